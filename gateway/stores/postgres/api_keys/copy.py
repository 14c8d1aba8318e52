"""A key's lineage in `api_keys`. Rotation's copy: a new row with every column of the old
but the secret's own (PER_SECRET), the columns read from the catalogue, so one a later
migration adds is copied too without anyone remembering rotation
(tests/integration/test_key_copy.py). The live keys minted under a key: by it, by any
secret it was rotated from, or by one of those keys, at any depth. And a key's grant with
those of the keys under it, written together when it changes (services/keys/life_cycle.py)."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from datetime import UTC, datetime

import asyncpg

from billing.grants import Grant
from billing.money.quotas import quota_to_json
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
    """`new_id` with `secret`'s (hash, shown prefix), `old_id` first among its ancestors
    (it counts in the old secret's windows too), and every other column of `old_id`."""
    with map_postgres_errors():
        async with pool.acquire() as conn:
            copied = ", ".join(n for n in await key_columns(conn) if n not in PER_SECRET)
            row = await conn.fetchrow(
                f"INSERT INTO api_keys (id, key_hash, key_prefix, ancestors, {copied})"
                f" SELECT $2, $3, $4, array_prepend(id, ancestors), {copied}"
                " FROM api_keys WHERE id = $1 RETURNING *",
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


_NARROW = """
UPDATE api_keys SET scopes = $2, models = $3, quotas = $4, expires_at = $5, providers = $6,
    revoked_at = CASE WHEN $7 THEN coalesce(revoked_at, now()) ELSE revoked_at END
WHERE id = $1 RETURNING *
"""


def _args(key_id: str, grant: Grant, revoke: bool) -> tuple[object, ...]:
    ms = grant.expires_at_ms
    expires = None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)
    quotas = json.dumps([quota_to_json(q) for q in grant.quotas])
    scopes, models, providers = (sorted(x) for x in (grant.scopes, grant.models, grant.providers))
    return key_id, scopes, models, quotas, expires, providers, revoke


async def write_grants(
    pool: asyncpg.Pool, grants: Mapping[str, Grant], revoke: Collection[str]
) -> list[Row]:
    """Each key's grant (and revocation for those in `revoke`), in one transaction: a key
    and the keys minted under it never disagree for a moment in PostgreSQL."""
    with map_postgres_errors():
        async with pool.acquire() as conn, conn.transaction():
            rows = [
                await conn.fetchrow(_NARROW, *_args(k, g, k in revoke)) for k, g in grants.items()
            ]
    return [dict(r) for r in rows if r is not None]
