"""Rotation's copy of a key: a new row with every column of the old but the secret's own
(PER_SECRET), the columns read from the catalogue, so one a later migration adds is copied
too without anyone remembering rotation (tests/integration/test_key_copy.py)."""

from __future__ import annotations

import asyncpg

from gateway.stores.postgres.errors import map_postgres_errors
from gateway.stores.records import PER_SECRET, Row


async def key_columns(conn: asyncpg.Connection) -> list[str]:
    """The columns of `api_keys` as the database has them now."""
    rows = await conn.fetch(
        "SELECT attname FROM pg_attribute WHERE attrelid = 'api_keys'::regclass"
        " AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
    )
    return [r["attname"] for r in rows]


async def copy_key(pool: asyncpg.Pool, old_id: str, new_id: str, secret: tuple[str, str]) -> Row:
    """`new_id` with `secret`'s (hash, shown prefix) and every other column of `old_id`."""
    with map_postgres_errors():
        async with pool.acquire() as conn:
            copied = ", ".join(n for n in await key_columns(conn) if n not in PER_SECRET)
            row = await conn.fetchrow(
                f"INSERT INTO api_keys (id, key_hash, key_prefix, {copied})"
                f" SELECT $2, $3, $4, {copied} FROM api_keys WHERE id = $1 RETURNING *",
                old_id,
                new_id,
                *secret,
            )
    if row is None:
        raise LookupError(f"no key {old_id}")
    return dict(row)
