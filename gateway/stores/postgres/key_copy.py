"""A key's lineage in `api_keys`. Rotation's copy: a new row with every column of the old
but the secret's own (PER_SECRET), the columns read from the catalogue, so one a later
migration adds is copied too without anyone remembering rotation
(tests/integration/test_key_copy.py). And the live keys minted under a key: by it, by any
secret it was rotated from, or by one of those keys, at any depth."""

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


_MINTED_UNDER = """
WITH RECURSIVE secrets AS (
    SELECT id, rotated_from FROM api_keys WHERE id = $1
    UNION
    SELECT k.id, k.rotated_from FROM api_keys k JOIN secrets s ON k.id = s.rotated_from
), minted AS (
    SELECT k.id FROM api_keys k
    WHERE k.minter_kind = 'key' AND k.minter_id IN (SELECT id FROM secrets)
    UNION
    SELECT k.id FROM api_keys k JOIN minted m ON k.minter_kind = 'key' AND k.minter_id = m.id
)
SELECT k.* FROM api_keys k JOIN minted m ON k.id = m.id WHERE k.revoked_at IS NULL
"""


async def minted_under(pool: asyncpg.Pool, key_id: str) -> list[Row]:
    with map_postgres_errors():
        rows = await pool.fetch(_MINTED_UNDER, key_id)
    return [dict(r) for r in rows]
