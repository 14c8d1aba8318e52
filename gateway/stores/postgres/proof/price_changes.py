"""Price changes awaiting review or approved (migration 093), and the usage a preview
re-prices: the last days' debits of the changed models, identical usages grouped (a debit is
rounded per call, so one usage's charge times its calls is exact).

A change is decided once: approving or rejecting takes a pending row only, so two operators
deciding together cannot both win.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from gateway.stores.postgres.errors import map_postgres_errors
from gateway.stores.postgres.pricing.own_markup import own_markup_at
from gateway.stores.records import Row

COLUMNS = (
    "id, status, document, effective_at, note, diff, preview, largest_move_permille,"
    " proposed_by, proposed_at, decided_by, decided_at"
)
INSERT_CHANGE = f"""
INSERT INTO price_changes (document, effective_at, note, diff, preview, largest_move_permille,
                           proposed_by)
VALUES ($1::jsonb, $2, $3, $4::jsonb, $5::jsonb, $6, $7) RETURNING {COLUMNS}
"""
DECIDE = f"""
UPDATE price_changes SET status = $2, decided_by = $3, decided_at = now()
WHERE id = $1 AND status = 'pending' RETURNING {COLUMNS}
"""
_USAGE = """
SELECT account_id, model, input_tokens, cached_input_tokens, cache_write_tokens,
       output_tokens, reasoning_tokens, usage_detail, count(*) AS calls
FROM ledger_entries
WHERE kind = 'debit' AND model = ANY($1::text[]) AND occurred_at >= $2
GROUP BY account_id, model, input_tokens, cached_input_tokens, cache_write_tokens,
         output_tokens, reasoning_tokens, usage_detail
"""
_REFUSED = """
INSERT INTO unpriced_models (model, account_id, calls)
SELECT m, a, c FROM unnest($1::text[], $2::text[], $3::bigint[]) AS u (m, a, c)
ON CONFLICT (model, account_id) DO UPDATE
SET calls = unpriced_models.calls + excluded.calls, last_seen = now()
"""
# Models still refused: those a price change has since priced are left to the caller.
_UNPRICED = """
SELECT model, sum(calls)::bigint AS calls, count(*) AS accounts, min(first_seen) AS first_seen,
       max(last_seen) AS last_seen
FROM unpriced_models WHERE last_seen >= $1
GROUP BY model ORDER BY sum(calls) DESC, model LIMIT $2
"""
_MARKUPS = "SELECT id, plan, markup_bps FROM accounts WHERE id = ANY($1::text[])"
_ACCOUNT_USAGE = """
SELECT account_id, model, input_tokens, cached_input_tokens, cache_write_tokens,
       output_tokens, reasoning_tokens, usage_detail, count(*) AS calls
FROM ledger_entries
WHERE kind = 'debit' AND account_id = $1 AND model IS NOT NULL AND occurred_at >= $2
GROUP BY account_id, model, input_tokens, cached_input_tokens, cache_write_tokens,
         output_tokens, reasoning_tokens, usage_detail
"""
# A markup change approved: scheduled on the account unless another is scheduled and not yet
# in force (one in force is folded into `markup_bps` first, as the clock would), its own or,
# while it follows its plan's markup before or after, its plan's (migration 105).
_SCHEDULE = f"""
UPDATE accounts SET
    markup_bps = {own_markup_at("now()")},
    next_markup_bps = $2, next_markup_at = $3, next_markup_change = $4
WHERE id = $1 AND (next_markup_at IS NULL OR next_markup_at <= now())
  AND ({own_markup_at("now()")} IS NOT NULL
       AND $2::int IS NOT NULL
       OR NOT EXISTS (SELECT 1 FROM plan_markups p
                      WHERE p.plan = accounts.plan AND p.next_markup_at > now()))
RETURNING *
"""
_DUE = """
UPDATE accounts SET markup_bps = next_markup_bps, next_markup_bps = NULL,
                    next_markup_at = NULL, next_markup_change = NULL
WHERE next_markup_at <= now() RETURNING *
"""


class _Scheduled(Exception):
    """The account has a markup change scheduled already: the approval is rolled back."""


def change_row(record: asyncpg.Record) -> Row:
    row = dict(record)
    for name in ("document", "diff", "preview"):
        row[name] = json.loads(row[name])
    return row


def as_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


class PriceChanges:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def propose(
        self,
        document: Mapping[str, Any],
        effective_at: datetime,
        note: str,
        review: Mapping[str, Any],
        proposed_by: str,
    ) -> Row:
        """A pending change; `review` holds its `diff`, `preview` and `largest_move_permille`."""
        with map_postgres_errors():
            record = await self.pool.fetchrow(
                INSERT_CHANGE,
                as_json(document),
                effective_at,
                note,
                as_json(review["diff"]),
                as_json(review["preview"]),
                review["largest_move_permille"],
                proposed_by,
            )
        return change_row(record)

    async def get(self, change_id: int) -> Row | None:
        with map_postgres_errors():
            record = await self.pool.fetchrow(
                f"SELECT {COLUMNS} FROM price_changes WHERE id = $1", change_id
            )
        return None if record is None else change_row(record)

    async def listing(self, status: str | None = None) -> list[Row]:
        """Changes by status (every one when None), newest first, at most 200."""
        with map_postgres_errors():
            records = await self.pool.fetch(
                f"SELECT {COLUMNS} FROM price_changes WHERE $1::text IS NULL OR status = $1"
                " ORDER BY id DESC LIMIT 200",
                status,
            )
        return [change_row(r) for r in records]

    async def approved(self) -> list[Row]:
        """Every approved change, in the order they take effect: what a process installs."""
        with map_postgres_errors():
            records = await self.pool.fetch(
                f"SELECT {COLUMNS} FROM price_changes WHERE status = 'approved'"
                " ORDER BY effective_at, id"
            )
        return [change_row(r) for r in records]

    async def decide(self, change_id: int, status: str, decided_by: str) -> Row | None:
        """Approve or reject a pending change; None when it is not pending (any more)."""
        with map_postgres_errors():
            record = await self.pool.fetchrow(DECIDE, change_id, status, decided_by)
        return None if record is None else change_row(record)

    async def account(self, account_id: str) -> Row | None:
        """The account's row (its plan, own markup and any scheduled one); None: no such."""
        with map_postgres_errors():
            record = await self.pool.fetchrow("SELECT * FROM accounts WHERE id = $1", account_id)
        return None if record is None else dict(record)

    async def account_usage_since(self, account_id: str, since: datetime) -> list[Row]:
        """The account's debits of models since `since`, one row per usage, with `calls`."""
        with map_postgres_errors():
            records = await self.pool.fetch(_ACCOUNT_USAGE, account_id, since)
        return [dict(r) for r in records]

    async def approve_markup(
        self, change_id: int, decided_by: str, account_id: str, own: int | None, at: datetime
    ) -> tuple[Row | None, Row | None]:
        """Approve a pending markup change and schedule it on its account, in one
        transaction: (the change, the account). Nothing is written when the change is not
        pending (None, ...) or the account has another markup change scheduled and not yet
        in force (..., None)."""
        try:
            with map_postgres_errors():
                async with self.pool.acquire() as conn, conn.transaction():
                    decided = await conn.fetchrow(DECIDE, change_id, "approved", decided_by)
                    if decided is None:
                        return None, None
                    account = await conn.fetchrow(_SCHEDULE, account_id, own, at, change_id)
                    if account is None:
                        raise _Scheduled  # rolls the approval back
                    return change_row(decided), dict(account)
        except _Scheduled:
            return await self.get(change_id), None

    async def due_markups(self) -> list[Row]:
        """Fold every scheduled markup now in force into its account's own markup: the
        accounts changed, each at most once across every process."""
        with map_postgres_errors():
            records = await self.pool.fetch(_DUE)
        return [dict(r) for r in records]

    async def usage_since(self, models: list[str], since: datetime) -> list[Row]:
        """The debits of `models` since `since`, one row per account and usage, with `calls`."""
        with map_postgres_errors():
            records = await self.pool.fetch(_USAGE, models, since)
        return [dict(r) for r in records]

    async def add_refusals(self, counts: Mapping[tuple[str, str], int]) -> None:
        """Add calls refused for unpriced models, by (model, account), in one statement."""
        pairs = sorted(counts)
        with map_postgres_errors():
            await self.pool.execute(
                _REFUSED, [m for m, _ in pairs], [a for _, a in pairs], [counts[p] for p in pairs]
            )

    async def unpriced(self, since: datetime, limit: int = 100) -> list[Row]:
        """Refused models seen since `since`, most called first: calls, accounts, first and
        last seen."""
        with map_postgres_errors():
            records = await self.pool.fetch(_UNPRICED, since, limit)
        return [dict(r) for r in records]

    async def account_markups(self, account_ids: list[str]) -> dict[str, tuple[str, int | None]]:
        """Each account's plan and its own markup (None: its plan's)."""
        with map_postgres_errors():
            records = await self.pool.fetch(_MARKUPS, account_ids)
        return {r["id"]: (r["plan"], r["markup_bps"]) for r in records}
