"""Reading the archive tables retention made (`ledger_archive_YYYY_MM`, `_2`...), for the
reads that must answer the same after a month leaves the live ledger: the account ledger
page, a request's entry and meter usage over part of an archived month.

Which archives an account has rows in comes from `ledger_archived_sums` (keyed by account),
and each archive's id range from the registry `ledger_archives` (migration 024), so a read
touches only the archives that can hold its answer, through the index each detached
partition kept, and never lists pg_class. An operator may drop an archive table: it is
skipped (its rows are gone), never an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

import asyncpg

Reader: TypeAlias = asyncpg.Pool | asyncpg.Connection

ID_MAX = 2**63 - 1

# The account's archives whose ids can fall in (floor, before), newest ids first.
_IN_RANGE = """
SELECT a.archive_table, a.max_id FROM ledger_archives a
WHERE a.archive_table IN (SELECT archive_table FROM ledger_archived_sums WHERE account_id = $1)
  AND a.min_id < $2 AND a.max_id > $3 AND to_regclass(a.archive_table) IS NOT NULL
ORDER BY a.max_id DESC
"""
# Every archive the account has rows in, newest ids first (an archive made before migration
# 024 whose table was dropped has no registry row and no rows to read).
_OF_ACCOUNT = """
SELECT a.archive_table, a.max_id FROM ledger_archives a
WHERE a.archive_table IN (SELECT archive_table FROM ledger_archived_sums WHERE account_id = $1)
  AND to_regclass(a.archive_table) IS NOT NULL
ORDER BY a.max_id DESC
"""
# Which of these tables are still there, in the order given.
_THERE = """
SELECT t FROM unnest($1::text[]) WITH ORDINALITY u (t, n) WHERE to_regclass(t) IS NOT NULL
ORDER BY n
"""


@dataclass(frozen=True, slots=True)
class Archive:
    table: str
    max_id: int


def quoted(table: str) -> str:
    return '"' + table.replace('"', '""') + '"'


async def of_account(
    pool: Reader, account_id: str, *, after: int = -1, before: int = ID_MAX
) -> list[Archive]:
    """The archives holding rows of the account whose id ranges meet (after, before), the
    highest max id first; tables already dropped are left out."""
    if after < 0 and before == ID_MAX:
        rows = await pool.fetch(_OF_ACCOUNT, account_id)
    else:
        rows = await pool.fetch(_IN_RANGE, account_id, before, after)
    return [Archive(r["archive_table"], r["max_id"]) for r in rows]


async def fetch_each(
    pool: Reader, tables: list[str], sql: str, *args: object
) -> list[asyncpg.Record]:
    """`sql` with `{table}` read from every one of these tables in one statement (UNION ALL),
    one round trip however many archives; a table dropped since it was listed is left out
    (the statement runs again without the tables gone)."""
    while tables:
        union = " UNION ALL ".join(f"({sql.format(table=quoted(t))})" for t in tables)
        try:
            return list(await pool.fetch(union, *args))
        except asyncpg.UndefinedTableError:
            there = await pool.fetch(_THERE, tables)
            if len(there) == len(tables):
                raise
            tables = [r["t"] for r in there]
    return []


async def fetch(pool: Reader, table: str, sql: str, *args: object) -> list[asyncpg.Record]:
    """`sql` with `{table}` read from one archive table; no rows if the table was dropped
    (between finding it and reading it)."""
    try:
        return list(await pool.fetch(sql.format(table=quoted(table)), *args))
    except asyncpg.UndefinedTableError:
        return []
