"""Per-row export state: which debits went to Stripe or Lago, which wait for a retry."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg

from billing.usage.exports import Attempt, ExportRow, retry_delay_s
from gateway.stores.postgres.archives import ID_MAX
from gateway.stores.postgres.errors import map_postgres_errors
from gateway.stores.postgres.usage.id_bound import (
    HOLDING_IDS,
    LAST_GIVEN,
    SEQUENCE_CACHE,
    STILL_OPEN,
)

log = logging.getLogger("meterway.exports")

CUSTOMER_COLUMN = {"stripe": "stripe_customer_id", "lago": "lago_subscription_id"}
# What a delivery sends of a debit: each export row keeps it (migration 023), so a retry
# never reads the ledger, whose month retention may have archived since the first attempt.
_DEBIT = ("account_id", "request_id", "cost_micros", "occurred_at", "meter", "quantity",
          "model", "metadata")  # fmt: skip
# Debits of accounts mapped at the target ($1) with ids in ({after}, {upto}] and no export
# row there: what the due read sends first, and what holds the scan's bound below them.
_NEVER_TRIED = """
    FROM ledger_entries l
    JOIN export_customers c ON c.account_id = l.account_id AND c.{column} IS NOT NULL
    WHERE l.id > {after} AND l.id <= {upto} AND l.kind = 'debit' AND l.amount_micros < 0
      AND NOT EXISTS (SELECT 1 FROM usage_exports x WHERE x.target = $1 AND x.entry_id = l.id)
"""
_DUE = (
    """
SELECT * FROM (
    SELECT l.id, l.account_id, l.request_id, -l.amount_micros AS cost_micros, l.occurred_at,
           l.meter, l.quantity, l.model, l.metadata, c.{column} AS customer"""
    + _NEVER_TRIED
    + """    UNION ALL
    SELECT x.entry_id, x.account_id, x.request_id, x.cost_micros, x.occurred_at, x.meter,
           x.quantity, x.model, x.metadata, c.{column}
    FROM usage_exports x
    JOIN export_customers c ON c.account_id = x.account_id AND c.{column} IS NOT NULL
    WHERE x.target = $1 AND x.status IN ('failed', 'pending') AND x.next_at <= $2
) due ORDER BY id LIMIT $3
"""
)
# While one of them is left, the scan's lower bound stays below it.
_UNTRIED = "SELECT EXISTS (SELECT 1" + _NEVER_TRIED + ")"
_MARK = f"""
INSERT INTO usage_exports AS x (target, entry_id, status, attempts, next_at, last_error,
    {", ".join(_DEBIT)})
SELECT $1, e, s, 1, n, err, a, r, c, o, m, q, mo, md FROM unnest($2::bigint[], $3::text[],
    $4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::timestamptz[],
    $10::text[], $11::bigint[], $12::text[], $13::jsonb[])
    AS t(e, s, n, err, a, r, c, o, m, q, mo, md)
ON CONFLICT (target, entry_id) DO UPDATE SET status = excluded.status,
    attempts = x.attempts + 1, next_at = excluded.next_at, last_error = excluded.last_error,
    updated_at = now(), {", ".join(f"{c} = excluded.{c}" for c in _DEBIT)}
"""
# A debit `l` becoming a `pending` export row at a target (`{target}`), sent like a retry.
_PENDING = f"""
INSERT INTO usage_exports (target, entry_id, status, attempts, next_at, {", ".join(_DEBIT)})
SELECT {{target}}, l.id, 'pending', 0, now(), l.account_id, l.request_id, -l.amount_micros,
       l.occurred_at, l.meter, l.quantity, l.model, l.metadata"""
# Run by retention as it detaches a month (`{table}`, the month's partition, whose ids lie
# from $1 to $2): a debit of a mapped account never tried at a target gets a `pending` row,
# sent like a retry. The id bounds keep the check to the month's export rows, not all ever.
RECORD_UNSENT = (
    _PENDING.format(target="t.target")
    + """
FROM {table} l JOIN export_customers c ON c.account_id = l.account_id
CROSS JOIN LATERAL (VALUES ('stripe', c.stripe_customer_id), ('lago', c.lago_subscription_id))
    AS t (target, customer)
WHERE t.customer IS NOT NULL AND l.kind = 'debit' AND l.amount_micros < 0
  AND NOT EXISTS (SELECT 1 FROM usage_exports x WHERE x.target IN ('stripe', 'lago')
                  AND x.entry_id BETWEEN $1 AND $2 AND x.target = t.target AND x.entry_id = l.id)
ON CONFLICT (target, entry_id) DO NOTHING
"""
)


# An account mapped at a target: its debits below the scan's bound never tried there become
# `pending` rows (the scan will not read them), sent like a retry.
_BACKFILL = (
    _PENDING.format(target="$1")
    + """
FROM ledger_entries l
WHERE l.account_id = $2 AND l.id <= $3 AND l.kind = 'debit' AND l.amount_micros < 0
  AND NOT EXISTS (SELECT 1 FROM usage_exports x WHERE x.target = $1 AND x.entry_id = l.id)
ON CONFLICT (target, entry_id) DO NOTHING
"""
)


async def _advance(conn: asyncpg.Connection, target: str, column: str) -> None:
    """Move the scan's lower bound up when it is safe: to the id the sequence had when the
    transactions then holding ledger ids were listed, once they have all ended (no lower id
    can commit after) and no debit up to it is left untried; then list them again."""
    if await conn.fetchval(SEQUENCE_CACHE) != 1:
        # An operator's ALTER SEQUENCE ... CACHE n: the bound stays (reads stay correct,
        # only slower as the ledger grows) until the sequence hands out ids one by one again.
        log.warning("ledger_entries_id_seq caches ids: the export scan's bound is not moved")
        return
    async with conn.transaction():
        scan = await conn.fetchrow("SELECT * FROM export_scan WHERE target = $1 FOR UPDATE", target)
        through = scan["through_id"]
        if scan["next_id"] is not None:
            if await conn.fetchval(STILL_OPEN, scan["next_vxids"]):
                return
            next_id = int(scan["next_id"])
            untried = _UNTRIED.format(column=column, after=int(through), upto=next_id)
            if await conn.fetchval(untried, target):
                return
            through = scan["next_id"]
        upto = await conn.fetchval(LAST_GIVEN)
        await conn.execute(
            "UPDATE export_scan SET through_id = $2, next_id = $3, next_vxids = $4"
            " WHERE target = $1",
            target,
            through,
            upto,
            await conn.fetchval(HOLDING_IDS),
        )


class ExportLedger:
    """Implements `stores.ports.ExportLedgerPort`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def due(self, target: str, now: datetime, limit: int) -> list[ExportRow]:
        """Debits of mapped accounts never exported, or failed and due again, oldest first.
        Never-tried debits are looked for above the scan's bound only (export_scan, migration
        025: an index range on every month), which then moves up if it safely can. The bound
        is written into the statement: as a parameter, a prepared statement's generic plan
        (from its sixth run) does not know it is near the top and reads every month."""
        column = CUSTOMER_COLUMN[target]
        with map_postgres_errors():
            async with self.pool.acquire() as conn:
                through = await conn.fetchval(
                    "SELECT through_id FROM export_scan WHERE target = $1", target
                )
                sql = _DUE.format(column=column, after=int(through), upto=ID_MAX)
                rows = await conn.fetch(sql, target, now, limit)
                await _advance(conn, target, column)
        return [
            ExportRow(
                r["id"],
                r["account_id"],
                r["request_id"],
                r["cost_micros"],
                r["occurred_at"],
                r["customer"],
                r["meter"],
                r["quantity"],
                r["model"],
                json.loads(r["metadata"]) if r["metadata"] else None,
            )
            for r in rows
        ]

    async def attempts(self, target: str, entry_ids: Sequence[int]) -> dict[int, int]:
        with map_postgres_errors():
            rows = await self.pool.fetch(
                "SELECT entry_id, attempts FROM usage_exports WHERE target = $1"
                " AND entry_id = ANY($2::bigint[])",
                target,
                list(entry_ids),
            )
        return {r["entry_id"]: r["attempts"] for r in rows}

    async def mark(self, target: str, attempt: Attempt, now: datetime) -> None:
        """Record each row's fate in one statement; a failure is due again after a backoff.
        Each row keeps the debit it sends, so its retry reads no ledger."""
        outcomes = attempt.outcomes
        tried = await self.attempts(target, [o.entry_id for o in outcomes if not o.delivered])
        fates: list[tuple[int, str, datetime | None, str | None]] = []
        for o in outcomes:
            delay = retry_delay_s(tried.get(o.entry_id, 0) + 1)
            later = None if o.delivered else now + timedelta(seconds=delay)
            fates.append((o.entry_id, "sent" if o.delivered else "failed", later, o.error))
        for entry_id in attempt.expired:
            fates.append((entry_id, "expired", None, "older than Stripe's 35-day limit"))
        if fates:
            debits = {r.entry_id: _debit(r) for r in attempt.rows}
            columns = zip(*(fate + debits[fate[0]] for fate in fates), strict=True)
            with map_postgres_errors():
                await self.pool.execute(_MARK, target, *(list(c) for c in columns))

    async def set_customer(self, account_id: str, target: str, customer: str | None) -> None:
        """Map (or unmap, with None) the account at the target. Mapping it gives its debits
        below the exporter's scan bound never tried there a `pending` row each, in the same
        transaction, which waits for a bound being moved (and moves it after)."""
        column = CUSTOMER_COLUMN[target]
        with map_postgres_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    f"INSERT INTO export_customers (account_id, {column}) VALUES ($1, $2)"
                    f" ON CONFLICT (account_id) DO UPDATE SET {column} = excluded.{column}",
                    account_id,
                    customer,
                )
                if customer is not None:
                    through = await conn.fetchval(
                        "SELECT through_id FROM export_scan WHERE target = $1 FOR UPDATE", target
                    )
                    await conn.execute(_BACKFILL, target, account_id, through)

    async def counts(self, target: str, account_id: str | None = None) -> dict[str, int]:
        with map_postgres_errors():
            rows = await self.pool.fetch(
                "SELECT x.status, count(*) AS n FROM usage_exports x"
                " LEFT JOIN ledger_entries l ON x.account_id IS NULL AND l.id = x.entry_id"
                " WHERE x.target = $1"
                " AND ($2::text IS NULL OR coalesce(x.account_id, l.account_id) = $2)"
                " GROUP BY 1",
                target,
                account_id,
            )
        return {r["status"]: int(r["n"]) for r in rows}


def _debit(r: ExportRow) -> tuple[object, ...]:
    """The `_DEBIT` columns of a row, in order."""
    md = None if r.metadata is None else json.dumps(r.metadata)
    return (r.account_id, r.request_id, r.cost_micros, r.occurred_at, r.meter, r.quantity,
            r.model, md)  # fmt: skip


def utcnow() -> datetime:
    return datetime.now(UTC)
