"""The ledger's columns, named in one place, and the rule that its archive tables keep them.

Retention detaches whole months into standalone tables (`partitions.py`) that no longer
follow `ALTER TABLE ledger_entries`, and the archive reads (`archives.py`) hand their rows to
the same code as live rows. So every read of ledger rows names `ENTRY_COLUMNS` (an archive
missing one fails the read instead of quietly giving rows without it), and the migration
runner refuses a schema in which a table `ledger_archives` lists differs from
`ledger_entries` in a column's name or type: a migration that changes the ledger must change
every archive in the same transaction (ARCHITECTURE.md).
"""

from __future__ import annotations

import asyncpg

from billing.proof.ledger_proof import LEAF_COLUMNS
from gateway.stores.errors import ArchiveSchemaMismatch

# The ledger's columns: those its proof's leaves hold (billing/proof/ledger_proof.py), and any a
# migration adds after them, which also takes a new leaf version there.
ENTRY_COLUMNS: tuple[str, ...] = LEAF_COLUMNS
ENTRY_SELECT = ", ".join(ENTRY_COLUMNS)

# Per archive still there, each column whose name or type differs from the ledger's: a
# catalog read, whatever the archives hold.
_MISMATCHES = """
WITH ledger AS (
    SELECT attname::text AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute
    WHERE attrelid = 'ledger_entries'::regclass AND attnum > 0 AND NOT attisdropped
)
SELECT a.archive_table, d.name, d.ledger_type, d.archive_type
FROM ledger_archives a, LATERAL (
    SELECT coalesce(l.name, t.name) AS name, l.type AS ledger_type, t.type AS archive_type
    FROM ledger l FULL JOIN (
        SELECT attname::text AS name, format_type(atttypid, atttypmod) AS type
        FROM pg_attribute
        WHERE attrelid = to_regclass(a.archive_table) AND attnum > 0 AND NOT attisdropped
    ) t ON t.name = l.name
    WHERE l.type IS DISTINCT FROM t.type
) d
WHERE to_regclass(a.archive_table) IS NOT NULL
ORDER BY 1, 2
"""


def _describe(row: asyncpg.Record) -> str:
    table, column = row["archive_table"], row["name"]
    if row["archive_type"] is None:
        return f"{table} lacks column {column} ({row['ledger_type']}) of ledger_entries"
    if row["ledger_type"] is None:
        return f"{table} has column {column} ({row['archive_type']}) that ledger_entries lacks"
    return (
        f"{table}.{column} is {row['archive_type']}"
        f" where ledger_entries.{column} is {row['ledger_type']}"
    )


async def check_archives(conn: asyncpg.Connection) -> None:
    """Raise ArchiveSchemaMismatch naming each archive and column that differs from the
    ledger; nothing to check before migration 024 made the registry."""
    if await conn.fetchval("SELECT to_regclass('ledger_archives')") is None:
        return
    rows = await conn.fetch(_MISMATCHES)
    if rows:
        raise ArchiveSchemaMismatch(
            "; ".join(_describe(r) for r in rows)
            + ": a migration that changes ledger_entries must change every archive table"
            " ledger_archives lists, in the same migration"
        )
