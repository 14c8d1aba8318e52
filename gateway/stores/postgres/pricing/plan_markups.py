"""Plans' approved markups and the reviewed changes of them (migration 105).

The first sight of a plan records its configured markup as approved; a start that loads
another bills the approved one and files the move as a change proposed by `config` (once:
gateways starting together hold a transaction-level advisory lock and file only when no
change moving the plan to that markup is waiting). Approving schedules the change on the
plan's row, refused while an account following the plan has its own change waiting.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from gateway.stores.postgres.errors import map_postgres_errors
from gateway.stores.postgres.pricing.config_cards import config_change
from gateway.stores.postgres.pricing.own_markup import own_markup_at
from gateway.stores.postgres.proof.price_changes import COLUMNS, DECIDE, INSERT_CHANGE, change_row
from gateway.stores.records import Row

_LOCK = "SELECT pg_advisory_xact_lock(hashtext('meterway.plan_markups'))"
# A scheduled markup now in force becomes the plan's approved one.
_FOLD = """
UPDATE plan_markups SET markup_bps = next_markup_bps, next_markup_bps = NULL,
                        next_markup_at = NULL, next_markup_change = NULL
WHERE next_markup_at <= now()
"""
_BASELINE = """
INSERT INTO plan_markups (plan, markup_bps)
SELECT p, m FROM unnest($1::text[], $2::int[]) AS u (p, m) ON CONFLICT (plan) DO NOTHING
"""
_WAITING = """
SELECT id FROM price_changes
WHERE document -> 'plan_markup' ->> 'plan' = $1
  AND (document -> 'plan_markup' ->> 'markup_bps')::int = $2
  AND (status = 'pending' OR (status = 'approved' AND effective_at > now()))
ORDER BY id DESC LIMIT 1
"""
# Accounts following the plan's markup, before or after a change of their own still waiting.
_BLOCKING = """
SELECT id FROM accounts
WHERE plan = $1 AND (markup_bps IS NULL OR next_markup_bps IS NULL) AND next_markup_at > now()
ORDER BY id LIMIT 20
"""
_SCHEDULE = """
UPDATE plan_markups SET next_markup_bps = $2, next_markup_at = $3, next_markup_change = $4
WHERE plan = $1 AND next_markup_at IS NULL RETURNING plan
"""
_FOLLOWING = "SELECT * FROM accounts WHERE plan = $1 AND markup_bps IS NULL ORDER BY id"
_USAGE = f"""
SELECT l.account_id, l.model, l.input_tokens, l.cached_input_tokens, l.cache_write_tokens,
       l.output_tokens, l.reasoning_tokens, l.usage_detail, count(*) AS calls
FROM ledger_entries l JOIN accounts a ON a.id = l.account_id
WHERE l.kind = 'debit' AND a.plan = $1 AND l.model IS NOT NULL AND l.occurred_at >= $2
  AND {own_markup_at("$3", "a")} IS NULL
GROUP BY l.account_id, l.model, l.input_tokens, l.cached_input_tokens, l.cache_write_tokens,
         l.output_tokens, l.reasoning_tokens, l.usage_detail
"""


def _scheduled(record: asyncpg.Record) -> tuple[int, datetime] | None:
    at = record["next_markup_at"]
    return None if at is None else (record["next_markup_bps"], at)


class _Refused(Exception):
    """The approval cannot schedule: rolled back."""


class PlanMarkups:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def approved(self) -> dict[str, tuple[int, tuple[int, datetime] | None]]:
        """Each recorded plan's approved markup and the one scheduled to follow it (bps,
        from), scheduled ones in force folded first."""
        with map_postgres_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(_FOLD)
                records = await conn.fetch("SELECT * FROM plan_markups")
        return {
            r["plan"]: (
                r["markup_bps"],
                None
                if r["next_markup_at"] is None
                else (r["next_markup_bps"], r["next_markup_at"]),
            )
            for r in records
        }

    async def baseline(self, markups: Mapping[str, int]) -> None:
        """Record each plan not seen before at its configured markup, as approved."""
        names = sorted(markups)
        with map_postgres_errors():
            await self.pool.execute(_BASELINE, names, [markups[n] for n in names])

    async def file(
        self,
        plan: str,
        bps: int,
        document: Mapping[str, Any],
        effective_at: datetime,
        note: str,
        review: Mapping[str, Any],
    ) -> tuple[int, bool]:
        """The change moving the plan's markup to `bps`: the one waiting (pending, or
        approved and not in force), else a new pending one proposed by `config`; (its id,
        whether it is new)."""
        with map_postgres_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(_LOCK)
                waiting = await conn.fetchval(_WAITING, plan, bps)
                if waiting is not None:
                    return int(waiting), False
                args = config_change(document, effective_at, note, review)
                row: Row = change_row(await conn.fetchrow(INSERT_CHANGE, *args))
                return int(row["id"]), True

    async def approve(
        self, change_id: int, decided_by: str, plan: str, bps: int, at: datetime
    ) -> tuple[Row | None, list[str] | None]:
        """Approve a pending plan markup change and schedule it on the plan, at once: (the
        change, None). Nothing is written when the change is not pending (None, None), or
        when the plan has another change scheduled or accounts following it have their own
        waiting (the change, those accounts; [] for the plan's own)."""
        blocked: list[str] = []
        try:
            with map_postgres_errors():
                async with self.pool.acquire() as conn, conn.transaction():
                    await conn.execute(_LOCK)
                    await conn.execute(_FOLD)
                    decided = await conn.fetchrow(DECIDE, change_id, "approved", decided_by)
                    if decided is None:
                        return None, None
                    blocked = [r["id"] for r in await conn.fetch(_BLOCKING, plan)]
                    if blocked or not await conn.fetchval(_SCHEDULE, plan, bps, at, change_id):
                        raise _Refused  # rolls the approval back
                    return change_row(decided), None
        except _Refused:
            return await self._change(change_id), blocked

    async def _change(self, change_id: int) -> Row | None:
        with map_postgres_errors():
            record = await self.pool.fetchrow(
                f"SELECT {COLUMNS} FROM price_changes WHERE id = $1", change_id
            )
        return None if record is None else change_row(record)

    async def following(self, plan: str) -> list[Row]:
        """The accounts on the plan with no markup of their own."""
        with map_postgres_errors():
            records = await self.pool.fetch(_FOLLOWING, plan)
        return [dict(r) for r in records]

    async def usage_since(self, plan: str, since: datetime, at: datetime) -> list[Row]:
        """The debits since `since` of the accounts following the plan's markup at `at`, one
        row per account and usage, with `calls`. An account's own markup scheduled by `at`
        counts as in force (not yet folded into `markup_bps`, as the hot record has it)."""
        with map_postgres_errors():
            records = await self.pool.fetch(_USAGE, plan, since, at)
        return [dict(r) for r in records]
