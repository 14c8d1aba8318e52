"""The ledger's side of the copy to the analytics store (migrations 080, 087): which entries
are safe to copy, the batch in flight, how far the copy has gone, and which store (the
marker the copy wrote into it) that watermark counts.

A batch is a range of entry ids (copied_through, batch_last], chosen once and recorded
before it is sent: until the store acknowledges it, every round sends that same range, whose
rows cannot change (every id in it is at or below `safe_id`: committed, or never to be), so
the store's insert token drops a batch it already has. Entries retention archived are read
from their archive tables, so a copy that fell behind a month still finds them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg

from gateway.stores.ports.usage.analytics import Watermark
from gateway.stores.postgres import archives
from gateway.stores.postgres.errors import map_postgres_errors
from gateway.stores.postgres.usage.id_bound import moved_bound
from gateway.stores.postgres.usage.rollups import UNITS_SQL

TARGET = "clickhouse"
_LOCK = "meterway.analytics_copy"
_TRY = "SELECT pg_try_advisory_lock(hashtextextended($1, 0))"
_TAKE = "SELECT true FROM pg_advisory_lock(hashtextextended($1, 0))"
_GIVE = "SELECT pg_advisory_unlock(hashtextextended($1, 0))"
# A row as the store keeps it: the ledger's columns and the units beyond tokens its usage
# detail holds, read as the usage rollups read them (stores/postgres/usage/rollups.py).
_COLUMNS = f"""
    id, account_id, kind, amount_micros, occurred_at, coalesce(request_id, '') AS request_id,
    coalesce(key_id, '') AS key_id, coalesce(model, '') AS model,
    coalesce(provider, '') AS provider, coalesce(meter, '') AS meter,
    coalesce(quantity, 0) AS quantity, coalesce(end_user, '') AS end_user,
    coalesce(price_version, '') AS price_version, provider_cost_micros, input_tokens,
    cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, {UNITS_SQL},
    coalesce(tags, jsonb_build_object()) AS tags
"""
_RANGE = f"SELECT {_COLUMNS} FROM {{table}} WHERE id > $1 AND id <= $2"
_ARCHIVES = """
SELECT archive_table FROM ledger_archives
WHERE min_id <= $2 AND max_id > $1 AND to_regclass(archive_table) IS NOT NULL
"""
_NEXT_IDS = "SELECT id FROM ledger_entries WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3"
# The oldest entry not yet copied: how far the store lags behind the ledger.
_OLDEST = """
SELECT created_at FROM ledger_entries WHERE id > $1 ORDER BY id LIMIT 1
"""
_WATERMARK = f"""
SELECT target_id, copied_through, target_high, coalesce(batch_last, copied_through) AS sent,
       ({_OLDEST.replace("$1", "copied_through")}) AS oldest
FROM analytics_copy WHERE target = $1
"""


class AnalyticsCopy:
    """Implements the ledger's half of `stores.ports.AnalyticsCopyPort`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @contextlib.asynccontextmanager
    async def turn(self, wait: bool) -> AsyncIterator[bool]:
        """The copy's turn, one process at a time (an advisory lock held on a connection of
        its own for the round): whether this process has it. A process filling a store
        again empties it first, which another's batch in flight would race."""
        with map_postgres_errors():
            conn = await self.pool.acquire()
        try:
            with map_postgres_errors():
                mine = bool(await conn.fetchval(_TAKE if wait else _TRY, _LOCK))
            try:
                yield mine
            finally:
                if mine:
                    with map_postgres_errors():
                        await conn.execute(_GIVE, _LOCK)
        finally:
            await self.pool.release(conn)

    async def watermark(self) -> Watermark:
        """The store the watermark counts, how far, and the oldest entry it lacks: one read."""
        with map_postgres_errors():
            row = await self.pool.fetchrow(_WATERMARK, TARGET)
        return Watermark(
            row["target_id"], int(row["copied_through"]), int(row["target_high"]),
            int(row["sent"]), row["oldest"],
        )  # fmt: skip

    async def retarget(self, target_id: str) -> None:
        """The store is now the one marked `target_id`, holding nothing: copy from the start
        (the safe bound stays: it says what the ledger has, not the store)."""
        with map_postgres_errors():
            await self.pool.execute(
                "UPDATE analytics_copy SET target_id = $2, copied_through = 0, batch_last = NULL,"
                " target_high = 0, copied_at = NULL WHERE target = $1",
                TARGET, target_id,
            )  # fmt: skip

    async def copied(self) -> int:
        """Every entry at or below this id is in the store."""
        with map_postgres_errors():
            found = await self.pool.fetchval(
                "SELECT copied_through FROM analytics_copy WHERE target = $1", TARGET
            )
        return int(found)

    async def advance_safe(self) -> int:
        """Move `safe_id` up where no lower id can still commit; the bound after."""
        with map_postgres_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(
                    "SELECT * FROM analytics_copy WHERE target = $1 FOR UPDATE", TARGET
                )
                safe, next_id, vxids = await moved_bound(
                    conn, int(row["safe_id"]), row["next_id"], row["next_vxids"]
                )
                await conn.execute(
                    "UPDATE analytics_copy SET safe_id = $2, next_id = $3, next_vxids = $4"
                    " WHERE target = $1",
                    TARGET, safe, next_id, vxids,
                )  # fmt: skip
                return safe

    async def next_batch(self, limit: int) -> tuple[int, int] | None:
        """The batch to send: the one in flight, else the next `limit` safe entries
        (recorded before it is returned); None when everything safe is copied."""
        with map_postgres_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(
                    "SELECT * FROM analytics_copy WHERE target = $1 FOR UPDATE", TARGET
                )
                after = int(row["copied_through"])
                if row["batch_last"] is not None:
                    return after, int(row["batch_last"])
                safe = int(row["safe_id"])
                if safe <= after:
                    return None
                ids = await conn.fetch(_NEXT_IDS, after, safe, limit)
                # A short page reaches `safe`: the batch takes the gaps (and any archived ids)
                # up to it, so the copy never waits on an id that is not live.
                last = int(ids[-1]["id"]) if len(ids) == limit else safe
                await conn.execute(
                    "UPDATE analytics_copy SET batch_last = $2 WHERE target = $1", TARGET, last
                )
                return after, last

    async def rows(self, after: int, last: int) -> list[dict[str, Any]]:
        """Every entry with an id in (after, last], live or archived, by id."""
        with map_postgres_errors():
            tables = ["ledger_entries"] + [
                r["archive_table"] for r in await self.pool.fetch(_ARCHIVES, after, last)
            ]
            found = await archives.fetch_each(self.pool, tables, _RANGE, after, last)
        return sorted((dict(r) for r in found), key=lambda r: int(r["id"]))

    async def acknowledged(self, last: int, now: datetime, high: int) -> None:
        """The store has (…, last], its highest entry id at least `high`: the batch in
        flight is done."""
        with map_postgres_errors():
            await self.pool.execute(
                "UPDATE analytics_copy SET copied_through = $2, batch_last = NULL,"
                " copied_at = $3, target_high = greatest(target_high, $4)"
                " WHERE target = $1 AND batch_last = $2",
                TARGET, last, now, high,
            )  # fmt: skip

    async def key_groups(self, account_id: str) -> dict[str, tuple[str, str]]:
        """Each key of the account: the team it is in now and the member who made it ('' for
        none), as usage by team and by member groups keys."""
        with map_postgres_errors():
            rows = await self.pool.fetch(
                "SELECT id, coalesce(team_id, '') AS team, coalesce(member_id, '') AS member"
                " FROM api_keys WHERE account_id = $1",
                account_id,
            )
        return {r["id"]: (r["team"], r["member"]) for r in rows}

    async def oldest_uncopied(self, after: int) -> datetime | None:
        with map_postgres_errors():
            found: datetime | None = await self.pool.fetchval(_OLDEST, after)
        return found

    async def day_sums(self, through: int) -> dict[tuple[str, str], tuple[int, int]]:
        """(account, UTC day) -> (entries, sum of micros) of every entry at or below
        `through`, live or archived: what `meterway analytics verify` compares."""
        sql = (
            "SELECT account_id, (occurred_at AT TIME ZONE 'UTC')::date::text AS day,"
            " count(*) AS n, sum(amount_micros)::bigint AS micros FROM {table}"
            " WHERE id <= $1 GROUP BY 1, 2"
        )
        with map_postgres_errors():
            tables = ["ledger_entries"] + [
                r["archive_table"] for r in await self.pool.fetch(_ARCHIVES, 0, through)
            ]
            found = await archives.fetch_each(self.pool, tables, sql, through)
        sums: dict[tuple[str, str], tuple[int, int]] = {}
        for r in found:
            n, micros = sums.get((r["account_id"], r["day"]), (0, 0))
            sums[(r["account_id"], r["day"])] = (n + r["n"], micros + r["micros"])
        return sums
