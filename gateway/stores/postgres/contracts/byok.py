"""Bring-your-own-key's rows (migration 103, `stores/ports/contracts/byok.py`): read whole by every
gateway process on a clock (services/contracts/byok.py), written by the account and operator APIs,
never read on a proxied call's path."""

from __future__ import annotations

import json
import secrets

import asyncpg

from gateway.stores.ports.contracts.byok import StoredKey
from gateway.stores.postgres.errors import map_postgres_errors
from gateway.stores.records import Row

# The next version: now in milliseconds, and always above the one before.
_BUMP = """
INSERT INTO byok_versions (account_id, version)
VALUES ($1, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)
ON CONFLICT (account_id) DO UPDATE SET version = greatest(
    byok_versions.version + 1, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)
RETURNING version
"""
_PUT = """
INSERT INTO byok_keys (account_id, upstream, ciphertext, hint) VALUES ($1, $2, $3, $4)
ON CONFLICT (account_id, upstream) DO UPDATE SET ciphertext = excluded.ciphertext,
    hint = excluded.hint, updated_at = now(), failing_since = NULL, notified_at = NULL
"""
_SHOWN = "upstream, hint, created_at, updated_at, failing_since"
_REJECTED = """
UPDATE byok_keys SET failing_since = coalesce(failing_since, now()),
    notified_at = CASE WHEN notified_at IS NULL
        OR notified_at < now() - make_interval(secs => $3) THEN now() ELSE notified_at END
WHERE account_id = $1 AND upstream = $2
RETURNING notified_at = now() AS due
"""


class ByokKeys:
    """Implements `stores.ports.byok.ByokPort`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def everything(self) -> tuple[list[StoredKey], dict[str, int], tuple[int, int] | None]:
        with map_postgres_errors():
            async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
                keys = await conn.fetch("SELECT account_id, upstream, ciphertext FROM byok_keys")
                versions = await conn.fetch("SELECT account_id, version FROM byok_versions")
                fee = await conn.fetchrow("SELECT percent_bps, fixed_micros FROM byok_fee")
        return (
            [StoredKey(r["account_id"], r["upstream"], bytes(r["ciphertext"])) for r in keys],
            {r["account_id"]: r["version"] for r in versions},
            None if fee is None else (fee["percent_bps"], fee["fixed_micros"]),
        )

    async def put(self, account_id: str, upstream: str, ciphertext: bytes, hint: str) -> int:
        with map_postgres_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(_PUT, account_id, upstream, ciphertext, hint)
                version: int = await conn.fetchval(_BUMP, account_id)
        return version

    async def remove(self, account_id: str, upstream: str) -> int | None:
        with map_postgres_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                done = await conn.execute(
                    "DELETE FROM byok_keys WHERE account_id = $1 AND upstream = $2",
                    account_id,
                    upstream,
                )
                if not done.endswith(" 1"):
                    return None
                version: int = await conn.fetchval(_BUMP, account_id)
        return version

    async def of_account(self, account_id: str) -> list[Row]:
        with map_postgres_errors():
            rows = await self.pool.fetch(
                f"SELECT {_SHOWN} FROM byok_keys WHERE account_id = $1 ORDER BY upstream",
                account_id,
            )
        return [dict(r) for r in rows]

    async def holders(self, upstream: str | None) -> list[Row]:
        with map_postgres_errors():
            rows = await self.pool.fetch(
                f"SELECT account_id, {_SHOWN} FROM byok_keys"
                " WHERE $1::text IS NULL OR upstream = $1 ORDER BY upstream, account_id",
                upstream,
            )
        return [dict(r) for r in rows]

    async def set_fee(self, bps: int, fixed_micros: int) -> tuple[int, int] | None:
        with map_postgres_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                old = await conn.fetchrow(
                    "SELECT percent_bps, fixed_micros FROM byok_fee FOR UPDATE"
                )
                await conn.execute(
                    "INSERT INTO byok_fee (percent_bps, fixed_micros) VALUES ($1, $2)"
                    " ON CONFLICT (one) DO UPDATE SET percent_bps = $1, fixed_micros = $2,"
                    " updated_at = now()",
                    bps,
                    fixed_micros,
                )
        return None if old is None else (old["percent_bps"], old["fixed_micros"])

    async def rejected(
        self, account_id: str, upstream: str, hint: str, window_s: int, event: str
    ) -> bool:
        with map_postgres_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                due = await conn.fetchval(_REJECTED, account_id, upstream, float(window_s))
                if not due:
                    return False
                payload = {"upstream": upstream, "key_hint": hint}
                await conn.execute(
                    "INSERT INTO notify_outbox (delivery_id, account_id, event, payload)"
                    " VALUES ($1, $2, $3, $4) ON CONFLICT (delivery_id) DO NOTHING",
                    "dlv_" + secrets.token_hex(12),
                    account_id,
                    event,
                    json.dumps(payload),
                )
        return True
