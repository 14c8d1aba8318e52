"""The ledger's monthly partitions: creating months ahead, and detaching old ones into
archive tables (migration 020 made `ledger_entries` partitioned by month of occurred_at, UTC).

Nothing here deletes a money record. Detaching keeps every row in a standalone archive table
and records, in the same transaction, per account and kind what left the live ledger, so
"sum of the ledger == balance" still holds through `ledger_kind_sums`, and per account, key
and meter what the quota windows counted of it (`ledger_archived_usage`), so a `total`
window rebuilt from the ledger still counts it. A debit of the month still owed to an
export target gets an export row carrying it, so it is still delivered.
"""

from __future__ import annotations

from datetime import date
from typing import TypeAlias

import asyncpg

from gateway.stores.postgres.errors import map_postgres_errors
from gateway.stores.postgres.money.window_usage import RECORD_ARCHIVED
from gateway.stores.postgres.usage.exports import RECORD_UNSENT
from gateway.stores.records import MonthAdded, MonthSummary

Reader: TypeAlias = asyncpg.Pool | asyncpg.Connection

_MONTHS = """
SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'ledger_entries'::regclass AND c.relname ~ '^ledger_entries_[0-9]{4}_[0-9]{2}$'
ORDER BY 1
"""
# The month's sums per account and kind, answering the month's summary from what it wrote.
_ARCHIVE_SUMS = """
WITH ins AS (
    INSERT INTO ledger_archived_sums (account_id, month, kind, entries, amount_micros,
        archive_table)
    SELECT account_id, $1, kind, count(*), sum(amount_micros), $2 FROM {table}
    GROUP BY account_id, kind
    RETURNING account_id, entries, amount_micros
)
SELECT coalesce(sum(entries), 0)::bigint AS n, coalesce(sum(amount_micros), 0)::bigint AS total,
    count(DISTINCT account_id) AS accounts FROM ins
"""

# Archive names in use: tables there, and names recorded by earlier detaches (dropped since).
_TAKEN = """
WITH p AS (SELECT '^' || $1 || '(_[0-9]+)?$' AS re)
SELECT count(*) FROM (
    SELECT relname::text AS name FROM pg_class, p WHERE relname ~ p.re
    UNION SELECT archive_table FROM ledger_archives, p WHERE archive_table ~ p.re
    UNION SELECT archive_table FROM ledger_archived_sums, p WHERE archive_table ~ p.re
) taken
"""


def partition_name(month: date) -> str:
    return f"ledger_entries_{month:%Y_%m}"


async def _archive_name(conn: asyncpg.Connection, month: date) -> str:
    """ledger_archive_YYYY_MM, or with _2, _3... if that month was archived before (it
    can be created again by ledger_add_month and receive late rows). A name stays taken
    after an operator drops its table: its sums and registry rows keep it."""
    base = f"ledger_archive_{month:%Y_%m}"
    taken = await conn.fetchval(_TAKEN, base)
    return base if taken == 0 else f"{base}_{taken + 1}"


def _month_of(name: str) -> date:
    year, month = name.rsplit("_", 2)[-2:]
    return date(int(year), int(month), 1)


async def add_months(pool: asyncpg.Pool, months: list[date]) -> list[MonthAdded]:
    """Create each month's partition unless it exists (ledger_add_month, one transaction
    each), moving that month's rows out of the DEFAULT partition."""
    added = []
    with map_postgres_errors():
        for month in months:
            moved = await pool.fetchval("SELECT ledger_add_month($1)", month)
            added.append(MonthAdded(month, moved is not None, int(moved or 0)))
    return added


async def missing(pool: asyncpg.Pool, months: list[date]) -> list[date]:
    """The months among these without a partition: a catalog read, no lock taken."""
    have = set(await attached(pool))
    return [m for m in months if m not in have]


async def attached(pool: asyncpg.Pool) -> list[date]:
    """The months with a partition in the live ledger, oldest first."""
    with map_postgres_errors():
        return [_month_of(r["name"]) for r in await pool.fetch(_MONTHS)]


async def default_months(pool: asyncpg.Pool) -> dict[date, int]:
    """Rows in the DEFAULT partition (no month partition for them) per month."""
    with map_postgres_errors():
        rows = await pool.fetch(
            "SELECT (date_trunc('month', occurred_at AT TIME ZONE 'UTC'))::date AS month,"
            " count(*) AS n FROM ledger_entries_default GROUP BY 1 ORDER BY 1"
        )
    return {r["month"]: int(r["n"]) for r in rows}


async def summarize(pool: Reader, months: list[date]) -> list[MonthSummary]:
    """What each of these months' partitions holds (a scan of each)."""
    out = []
    with map_postgres_errors():
        for month in months:
            table = partition_name(month)
            row = await pool.fetchrow(
                "SELECT count(*) AS n, coalesce(sum(amount_micros), 0)::bigint AS total,"
                f" count(DISTINCT account_id) AS accounts FROM {table}"
            )
            out.append(MonthSummary(month, table, row["n"], row["total"], row["accounts"]))
    return out


async def detach(pool: asyncpg.Pool, month: date) -> MonthSummary:
    """Detach one month into its archive table, in one transaction with its archived sums
    (per account and kind) and usage (per account, key and meter, in the windows' metrics),
    and a `pending` export row for each of its debits never yet tried at a mapped target.

    The ledger is locked for the transaction (writes and reads wait while the month is
    summed) so no row can land in the month between its sums and its detaching. The archive
    table keeps every row and refuses any change, as the ledger does."""
    table = partition_name(month)
    with map_postgres_errors():
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("LOCK TABLE ledger_entries IN ACCESS EXCLUSIVE MODE")
            archive = await _archive_name(conn, month)
            summary = await _record(conn, month, archive)
            await conn.execute(f"ALTER TABLE ledger_entries DETACH PARTITION {table}")
            await conn.execute(f"ALTER TABLE {table} RENAME TO {archive}")
            await conn.execute(
                f"CREATE TRIGGER {archive}_no_change BEFORE INSERT OR UPDATE OR DELETE"
                f" ON {archive} FOR EACH ROW EXECUTE FUNCTION ledger_immutable()"
            )
    return summary


async def _record(conn: asyncpg.Connection, month: date, archive: str) -> MonthSummary:
    """What the month's rows leave behind (sums, usage, exports still owed, the archive's
    registry row with its id range); the month's summary comes from its sums as they are
    written, not from one more scan of it."""
    table = partition_name(month)
    row = await conn.fetchrow(_ARCHIVE_SUMS.format(table=table), month, archive)
    await conn.execute(RECORD_ARCHIVED.format(table=table), month, archive)
    ids = await conn.fetchrow(f"SELECT min(id), max(id) FROM {table}")
    await conn.execute(RECORD_UNSENT.format(table=table), *ids)
    await conn.execute(
        "INSERT INTO ledger_archives (archive_table, month, entries, min_id, max_id)"
        " VALUES ($1, $2, $3, $4, $5)",
        archive,
        month,
        row["n"],
        *ids,
    )
    return MonthSummary(month, table, row["n"], row["total"], row["accounts"], archive)


class LedgerPartitions:
    """The functions above bound to the pool, so gateway/ops/ and the CLI never hold it."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def add_months(self, months: list[date]) -> list[MonthAdded]:
        return await add_months(self._pool, months)

    async def missing(self, months: list[date]) -> list[date]:
        return await missing(self._pool, months)

    async def attached(self) -> list[date]:
        return await attached(self._pool)

    async def default_months(self) -> dict[date, int]:
        return await default_months(self._pool)

    async def summarize(self, months: list[date]) -> list[MonthSummary]:
        return await summarize(self._pool, months)

    async def detach(self, month: date) -> MonthSummary:
        return await detach(self._pool, month)
