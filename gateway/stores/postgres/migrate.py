"""Numbered SQL migrations, applied in order, each once, each in its own transaction.

An advisory lock serialises concurrent runs (several gateways starting at once). Each
migration's transaction, and every run even with nothing to apply, ends with the check that
the archive tables still have the ledger's columns (ledger_shape.py): a migration that
changes `ledger_entries` alone is rolled back, and a schema changed by hand refuses to start.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources

import asyncpg

from gateway.stores.postgres.ledger_shape import check_archives

LOCK_ID = 0x6D657465  # "mete"
# A migration may rewrite a large table, and a process waits on the lock while another
# migrates: the pool's command timeout (POSTGRES_COMMAND_TIMEOUT_S) is for a server gone
# silent while serving, not for this.
LONG_S = 24 * 3600.0


def migration_files() -> list[tuple[int, str, str]]:
    files = resources.files("gateway.stores.postgres.migrations")
    found = []
    for entry in files.iterdir():
        if entry.name.endswith(".sql"):
            number = int(entry.name.split("_", 1)[0])
            found.append((number, entry.name, entry.read_text()))
    return sorted(found)


async def migrate(
    conn: asyncpg.Connection,
    upto: int | None = None,
    files: Sequence[tuple[int, str, str]] | None = None,
) -> list[str]:
    """Apply pending migrations (numbered `upto` or lower when given: tests build an older
    schema to migrate from; `files` instead of the package's, for a test's own migration);
    return the names applied (empty when up to date). ArchiveSchemaMismatch if an archive
    table's columns differ from the ledger's, after a migration (then rolled back) or not."""
    applied: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", LOCK_ID, timeout=LONG_S)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for number, name, sql in migration_files() if files is None else files:
            if number in done or (upto is not None and number > upto):
                continue
            async with conn.transaction():
                await conn.execute(sql, timeout=LONG_S)
                await check_archives(conn)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", number, name
                )
            applied.append(name)
        await check_archives(conn)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_ID)
    return applied


async def ensure_database(dsn: str) -> bool:
    """Create the database named in dsn if it does not exist (dev and tests); True if created."""
    import urllib.parse

    parts = urllib.parse.urlsplit(dsn)
    name = parts.path.lstrip("/")
    admin_dsn = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    conn = await asyncpg.connect(admin_dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        await conn.execute(f'CREATE DATABASE "{name}"')
        return True
    finally:
        await conn.close()
