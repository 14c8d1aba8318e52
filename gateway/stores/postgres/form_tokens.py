"""Single-use form tokens in PostgreSQL (migration 060).

A spend is one UPDATE of an unspent, unexpired row of this holder and action; two concurrent
spends queue on the row's lock and the second finds it spent, so exactly one wins. Tokens
are random (`secrets`), never derived from the session they are bound to."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import asyncpg

from gateway.stores.ports.form_tokens import Outcome
from gateway.stores.postgres.errors import map_postgres_errors

_SPEND = """
WITH won AS (
    UPDATE form_tokens SET spent_at = now()
    WHERE token = $1 AND holder = $2 AND action = $3 AND spent_at IS NULL
      AND expires_at > now()
    RETURNING 1
)
SELECT 'spent' AS outcome, NULL AS result FROM won
UNION ALL
SELECT CASE WHEN spent_at IS NULL AND expires_at <= now() THEN 'expired' ELSE 'already' END,
       result
FROM form_tokens
WHERE token = $1 AND holder = $2 AND action = $3 AND NOT EXISTS (SELECT 1 FROM won)
"""
# A row the UPDATE did not win although this statement's snapshot saw it unspent was spent
# by a concurrent statement, hence 'already' for every row but an expired unspent one.

_PEEK = """
SELECT CASE WHEN spent_at IS NOT NULL THEN 'already'
            WHEN expires_at <= now() THEN 'expired' ELSE 'spent' END AS outcome, result
FROM form_tokens WHERE token = $1 AND holder = $2 AND action = $3
"""

_MINT = """
INSERT INTO form_tokens (token, holder, action, expires_at)
SELECT t, $2, a, now() + make_interval(secs => $4)
FROM unnest($1::text[], $3::text[]) AS u(t, a)
"""

_FORGET = """
DELETE FROM form_tokens WHERE token IN (
    SELECT token FROM form_tokens WHERE expires_at < now() - interval '1 day' LIMIT 500
)
"""


class FormTokens:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def mint(self, holder: str, actions: Sequence[str], ttl_s: int) -> list[str]:
        tokens = [secrets.token_urlsafe(18) for _ in actions]
        with map_postgres_errors():
            async with self.pool.acquire() as conn:
                await conn.execute(_FORGET)
                await conn.execute(_MINT, tokens, holder, list(actions), float(ttl_s))
        return tokens

    async def _ask(
        self, sql: str, token: str, holder: str, action: str
    ) -> tuple[Outcome, str | None]:
        with map_postgres_errors():
            row = await self.pool.fetchrow(sql, token, holder, action)
        if row is None:
            return "unknown", None
        outcome: Outcome = row["outcome"]
        return outcome, row["result"]

    async def spend(self, token: str, holder: str, action: str) -> tuple[Outcome, str | None]:
        return await self._ask(_SPEND, token, holder, action)

    async def peek(self, token: str, holder: str, action: str) -> tuple[Outcome, str | None]:
        return await self._ask(_PEEK, token, holder, action)

    async def settle(self, token: str, result: str, fields: str = "") -> None:
        with map_postgres_errors():
            await self.pool.execute(
                "UPDATE form_tokens SET result = $2, fields = $3 WHERE token = $1",
                token,
                result,
                fields or None,
            )

    async def fields_of(self, token: str) -> str | None:
        with map_postgres_errors():
            found = await self.pool.fetchval(
                "SELECT fields FROM form_tokens WHERE token = $1", token
            )
        return None if found is None else str(found)

    async def release(self, token: str) -> None:
        with map_postgres_errors():
            await self.pool.execute(
                "UPDATE form_tokens SET spent_at = NULL, result = NULL, fields = NULL"
                " WHERE token = $1",
                token,
            )
