"""What a month's statement reads of the ledger (billing/contracts/statements.py does the
arithmetic).

One read-only REPEATABLE READ transaction, so the account's balance and its entries are one
snapshot (a balance changes in the transaction that writes its entries):

- the balances at the month's start and end: today's balance less what occurred since
  (live entries by `occurred_at`, the ledger's partition key, and the per-kind sums of any
  later month retention archived), so only the month and the months after it are read;
- the month's entries in groups (kind, grant kind, model, team, meter), from its live
  partition and from its archive tables when retention detached it. An archive table an
  operator dropped leaves its sums per kind (`ledger_archived_sums`): those come back as
  groups that are not itemized, and the table is named.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from billing.contracts.statements import MonthLedger, Movement
from gateway.stores.postgres import archives
from gateway.stores.postgres.errors import read_once_more

_SINCE = """
SELECT coalesce(sum(amount_micros), 0)::bigint FROM ledger_entries
WHERE account_id = $1 AND occurred_at >= $2
"""
# The per-kind sums of the account's archived months from this one on.
_ARCHIVED = """
SELECT archive_table, month, kind, entries, amount_micros FROM ledger_archived_sums
WHERE account_id = $1 AND month >= $2
"""
# The grant an entry concerns, for a ledger row `l` (the statements and FOCUS exports read
# it alike): a credit funds one; an expiry names it in its metadata (read only on an expiry,
# since a metered debit's metadata is a service's own); a refund returned to one.
GRANT_JOINS = """LEFT JOIN credit_grants g ON l.kind = 'credit' AND g.credit_entry_id = l.id
LEFT JOIN credit_grants e
    ON e.id = CASE WHEN l.kind = 'expire' THEN (l.metadata->>'grant_id')::bigint END
LEFT JOIN grant_refunds r ON l.kind = 'refund' AND r.entry_id = l.id
LEFT JOIN credit_grants rg ON rg.id = r.grant_id
"""
GRANT_KIND = "coalesce(g.kind, e.kind, rg.kind, '') AS grant_kind"
# The month's entries in groups; {table} is the ledger or one archive table. Credits,
# expiries and refunds name their grant (GRANT_JOINS); a debit its key's team now, as usage
# reports do.
_GROUPS = """
SELECT l.kind, {grant_kind},
       CASE WHEN l.kind = 'debit' THEN coalesce(l.model, '') ELSE '' END AS model,
       coalesce(t.id, '') AS team_id, coalesce(t.name, '') AS team_name,
       CASE WHEN l.kind = 'debit' THEN coalesce(l.meter, '') ELSE '' END AS meter,
       count(*)::bigint AS entries, sum(l.amount_micros)::bigint AS amount_micros,
       (count(*) FILTER (WHERE l.kind = 'debit' AND l.meter IS NULL))::bigint AS requests
FROM {table} l
{grants}LEFT JOIN api_keys k ON l.kind = 'debit' AND k.id = l.key_id
LEFT JOIN teams t ON t.id = k.team_id
WHERE l.account_id = $1 AND l.occurred_at >= $2 AND l.occurred_at < $3
GROUP BY 1, 2, 3, 4, 5, 6
""".replace("{grants}", GRANT_JOINS).replace("{grant_kind}", GRANT_KIND)


def _movement(row: asyncpg.Record) -> Movement:
    return Movement(
        row["kind"],
        row["entries"],
        row["amount_micros"],
        grant_kind=row["grant_kind"],
        model=row["model"],
        team_id=row["team_id"],
        team_name=row["team_name"],
        meter=row["meter"],
        requests=row["requests"],
    )


async def _month(
    conn: asyncpg.Connection, account_id: str, start: datetime, end: datetime
) -> MonthLedger | None:
    balance = await conn.fetchval("SELECT balance_micros FROM accounts WHERE id = $1", account_id)
    if balance is None:
        return None
    archived = await conn.fetch(_ARCHIVED, account_id, start.date())
    since_start = await conn.fetchval(_SINCE, account_id, start)
    since_end = await conn.fetchval(_SINCE, account_id, end)
    later = sum(r["amount_micros"] for r in archived if r["month"] >= end.date())
    closing = balance - since_end - later
    opening = balance - since_start - sum(r["amount_micros"] for r in archived)
    groups = await conn.fetch(_GROUPS.format(table="ledger_entries"), account_id, start, end)
    movements = [_movement(r) for r in groups]
    of_month = [r for r in archived if r["month"] == start.date()]
    missing = await _archived_groups(conn, account_id, start, end, of_month, movements)
    return MonthLedger(opening, closing, movements, missing)


async def _archived_groups(
    conn: asyncpg.Connection,
    account_id: str,
    start: datetime,
    end: datetime,
    sums: list[asyncpg.Record],
    into: list[Movement],
) -> list[str]:
    """Add the month's archived entries to `into`, itemized from each archive table still
    there, else as its per-kind sums; the tables gone."""
    missing = []
    for table in sorted({r["archive_table"] for r in sums}):
        name = archives.quoted(table)
        if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", name):
            rows = await conn.fetch(_GROUPS.format(table=name), account_id, start, end)
            into.extend(_movement(r) for r in rows)
            continue
        missing.append(table)
        into.extend(
            Movement(r["kind"], r["entries"], r["amount_micros"], itemized=False)
            for r in sums
            if r["archive_table"] == table
        )
    return missing


class Statements:
    """A month of an account's ledger, for its statement."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def month(self, account_id: str, start: datetime, end: datetime) -> MonthLedger | None:
        """The month [start, end) of the account's ledger; None if there is no such account."""

        async def read() -> MonthLedger | None:
            async with (
                self.pool.acquire() as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):
                return await _month(conn, account_id, start, end)

        return await read_once_more(self.pool, read)
