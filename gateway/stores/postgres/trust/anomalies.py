"""Spend anomalies in PostgreSQL: the hourly sums the detector reads (migration 095,
`usage_hours`), the flags it records with their notification and pause in one transaction,
the opt-ins and the pauses (migration 096)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from gateway.stores.ports.trust.anomalies import NetworkSighting, RepeatedPrompt
from gateway.stores.postgres.errors import map_postgres_errors
from gateway.stores.records import Row

# The rows of a scope in usage_hours (u): a key's, a team's keys' (the team a key is in
# now) or an account's; $1 the scope's id, $2 its account.
_WHERE = {
    "key": "u.account_id = $2 AND u.key_id = $1",
    "team": "u.account_id = $2 AND u.key_id IN (SELECT id FROM api_keys WHERE team_id = $1)",
    "account": "u.account_id = $2 AND $1 = $2",
}
_FRESH = """
SELECT u.account_id, u.key_id, k.team_id, max(u.last_at) AS last_at FROM usage_hours u
LEFT JOIN api_keys k ON k.id = u.key_id
WHERE u.last_at >= $1 GROUP BY 1, 2, 3
"""
_RECORD = """
INSERT INTO spend_anomalies (account_id, key_id, scope, scope_id, rule, window_start,
    window_end, figures, request_ids, summary)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (scope, scope_id, rule, window_start) DO NOTHING
RETURNING *
"""
# A key opted in by its own choice, else its account's; never a revoked or paused one.
_MAY_PAUSE = """
SELECT coalesce(
    (SELECT pause FROM anomaly_pause_opt_ins WHERE account_id = $2 AND key_id = $1),
    (SELECT pause FROM anomaly_pause_opt_ins WHERE account_id = $2 AND key_id = ''), false)
AND EXISTS (SELECT 1 FROM api_keys WHERE id = $1 AND revoked_at IS NULL)
AND NOT EXISTS (SELECT 1 FROM key_pauses WHERE key_id = $1)
"""


_NETWORKS = """
INSERT INTO key_networks AS k (key_id, account_id, network, first_seen, last_seen, calls,
    first_request_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[],
    $6::bigint[], $7::text[])
ON CONFLICT (key_id, network) DO UPDATE SET calls = k.calls + excluded.calls,
    first_seen = least(k.first_seen, excluded.first_seen),
    last_seen = greatest(k.last_seen, excluded.last_seen)
"""


_REPEATS = """
INSERT INTO key_repeats AS k (key_id, account_id, digest, hour, calls, first_request_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::bigint[],
    $6::text[])
ON CONFLICT (key_id, digest, hour) DO UPDATE SET calls = k.calls + excluded.calls,
    recorded_at = now()
"""


class Anomalies:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def fresh(self, since: datetime) -> list[Row]:
        with map_postgres_errors():
            return [dict(r) for r in await self.pool.fetch(_FRESH, since)]

    async def hours(self, scope: str, scope_id: str, account_id: str, since: datetime) -> list[Row]:
        sql = (
            "SELECT hour, sum(requests)::bigint AS requests, sum(spend_micros)::bigint AS"
            f" spend_micros FROM usage_hours u WHERE {_WHERE[scope]} AND hour >= $3"
            " GROUP BY hour ORDER BY hour"
        )
        with map_postgres_errors():
            return [dict(r) for r in await self.pool.fetch(sql, scope_id, account_id, since)]

    async def models(self, key_id: str, account_id: str, since: datetime) -> list[Row]:
        sql = (
            "SELECT hour, model, requests, spend_micros FROM usage_hours u"
            f" WHERE {_WHERE['key']} AND hour >= $3"
        )
        with map_postgres_errors():
            return [dict(r) for r in await self.pool.fetch(sql, key_id, account_id, since)]

    async def first_seen(self, scope: str, scope_id: str, account_id: str) -> datetime | None:
        sql = f"SELECT min(hour) FROM usage_hours u WHERE {_WHERE[scope]}"
        with map_postgres_errors():
            found: datetime | None = await self.pool.fetchval(sql, scope_id, account_id)
        return found

    async def examples(
        self, scope: str, scope_id: str, account_id: str, hour: datetime, limit: int = 5
    ) -> list[str]:
        sql = (
            f"SELECT last_request_id FROM usage_hours u WHERE {_WHERE[scope]} AND hour = $3"
            " ORDER BY last_at DESC LIMIT $4"
        )
        with map_postgres_errors():
            rows = await self.pool.fetch(sql, scope_id, account_id, hour, limit)
        return [r[0] for r in rows]

    async def record(self, flag: Mapping[str, Any], pause: bool) -> Row | None:
        f = flag
        with map_postgres_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(
                    _RECORD, f["account_id"], f["key_id"], f["scope"], f["scope_id"],
                    f["rule"], f["window_start"], f["window_end"], json.dumps(f["figures"]),
                    list(f["request_ids"]), f["summary"],
                )  # fmt: skip
                if row is None:
                    return None
                out = dict(row)
                if pause and f["scope"] == "key":
                    out["paused"] = await _pause(conn, f["key_id"], f["account_id"], row["id"])
                await _notify(conn, out)
        return anomaly_data(out)

    async def of_account(self, account_id: str | None, limit: int = 100) -> list[Row]:
        sql = (
            "SELECT * FROM spend_anomalies WHERE ($1::text IS NULL OR account_id = $1)"
            " ORDER BY detected_at DESC, id DESC LIMIT $2"
        )
        with map_postgres_errors():
            return [anomaly_data(r) for r in await self.pool.fetch(sql, account_id, limit)]

    async def set_opt_in(self, account_id: str, key_id: str, pause: bool | None) -> None:
        with map_postgres_errors():
            if pause is None:
                await self.pool.execute(
                    "DELETE FROM anomaly_pause_opt_ins WHERE account_id = $1 AND key_id = $2",
                    account_id,
                    key_id,
                )
                return
            await self.pool.execute(
                "INSERT INTO anomaly_pause_opt_ins (account_id, key_id, pause) VALUES ($1, $2, $3)"
                " ON CONFLICT (account_id, key_id) DO UPDATE SET pause = excluded.pause",
                account_id,
                key_id,
                pause,
            )

    async def opt_ins(self, account_id: str) -> dict[str, bool]:
        with map_postgres_errors():
            rows = await self.pool.fetch(
                "SELECT key_id, pause FROM anomaly_pause_opt_ins WHERE account_id = $1",
                account_id,
            )
        return {r["key_id"]: r["pause"] for r in rows}

    async def paused(self, key_ids: Sequence[str]) -> dict[str, Row]:
        with map_postgres_errors():
            rows = await self.pool.fetch(
                "SELECT * FROM key_pauses WHERE key_id = ANY($1::text[])", list(key_ids)
            )
        return {r["key_id"]: dict(r) for r in rows}

    async def resume(self, key_id: str) -> bool:
        with map_postgres_errors():
            done = await self.pool.execute("DELETE FROM key_pauses WHERE key_id = $1", key_id)
        return bool(done.endswith(" 1"))

    async def is_revoked(self, key_id: str) -> bool:
        sql = "SELECT revoked_at IS NOT NULL FROM api_keys WHERE id = $1"
        with map_postgres_errors():
            return bool(await self.pool.fetchval(sql, key_id))

    async def prune(self, before: datetime) -> int:
        with map_postgres_errors():
            done = await self.pool.execute("DELETE FROM usage_hours WHERE hour < $1", before)
            await self.pool.execute("DELETE FROM key_repeats WHERE hour < $1", before)
        return int(done.split()[-1])

    async def record_networks(self, seen: Sequence[NetworkSighting]) -> None:
        columns = [
            [getattr(n, f) for n in seen]
            for f in ("key_id", "account_id", "network", "first_seen", "last_seen", "calls",
                      "first_request_id")
        ]  # fmt: skip
        with map_postgres_errors():
            await self.pool.execute(_NETWORKS, *columns)

    async def new_networks(self, since: datetime) -> list[Row]:
        sql = "SELECT * FROM key_networks WHERE recorded_at >= $1 ORDER BY recorded_at"
        with map_postgres_errors():
            return [dict(r) for r in await self.pool.fetch(sql, since)]

    async def networks(self, key_id: str) -> dict[str, datetime]:
        sql = "SELECT network, first_seen FROM key_networks WHERE key_id = $1"
        with map_postgres_errors():
            return {r[0]: r[1] for r in await self.pool.fetch(sql, key_id)}

    async def record_repeats(self, seen: Sequence[RepeatedPrompt]) -> None:
        fields = ("key_id", "account_id", "digest", "hour", "calls", "first_request_id")
        columns = [[getattr(r, f) for r in seen] for f in fields]
        with map_postgres_errors():
            await self.pool.execute(_REPEATS, *columns)

    async def new_repeats(self, since: datetime) -> list[Row]:
        sql = "SELECT * FROM key_repeats WHERE recorded_at >= $1 ORDER BY recorded_at"
        with map_postgres_errors():
            return [dict(r) for r in await self.pool.fetch(sql, since)]

    async def busiest_repeat(
        self, key_id: str, digest: str, before: datetime, since: datetime
    ) -> int:
        sql = (
            "SELECT coalesce(max(calls), 0) FROM key_repeats"
            " WHERE key_id = $1 AND digest = $2 AND hour < $3 AND hour >= $4"
        )
        with map_postgres_errors():
            return int(await self.pool.fetchval(sql, key_id, digest, before, since))

    async def all_paused(self) -> list[str]:
        with map_postgres_errors():
            return [r[0] for r in await self.pool.fetch("SELECT key_id FROM key_pauses")]


async def _pause(conn: asyncpg.Connection, key_id: str, account_id: str, anomaly: int) -> bool:
    if not await conn.fetchval(_MAY_PAUSE, key_id, account_id):
        return False
    await conn.execute(
        "INSERT INTO key_pauses (key_id, account_id, anomaly_id) VALUES ($1, $2, $3)",
        key_id,
        account_id,
        anomaly,
    )
    await conn.execute("UPDATE spend_anomalies SET paused = true WHERE id = $1", anomaly)
    return True


async def _notify(conn: asyncpg.Connection, row: Row) -> None:
    """`spend.anomaly`, once per flag, through the notifier's outbox."""
    data = anomaly_data(row)
    await conn.execute(
        "INSERT INTO notify_outbox (delivery_id, account_id, event, payload)"
        " VALUES ($1, $2, 'spend.anomaly', $3) ON CONFLICT (delivery_id) DO NOTHING",
        f"dlv_spend.anomaly_{row['id']}",
        row["account_id"],
        json.dumps(data),
    )


def anomaly_data(row: Mapping[str, Any]) -> dict[str, Any]:
    """A flag as the API, the console and the notification show it."""
    figures = row["figures"]
    return {
        "id": row["id"],
        "object": "spend_anomaly",
        "account_id": row["account_id"],
        "key_id": row["key_id"] or None,
        "scope": row["scope"],
        "scope_id": row["scope_id"],
        "rule": row["rule"],
        "summary": row["summary"],
        "figures": json.loads(figures) if isinstance(figures, str) else figures,
        "window_start": row["window_start"].isoformat(),
        "window_end": row["window_end"].isoformat(),
        "request_ids": list(row["request_ids"]),
        "paused": row["paused"],
        "detected_at": row["detected_at"].isoformat(),
    }
