"""Domain claims in PostgreSQL (`domain_claims`, migration 082): one organization at most
holds a proven claim of a domain (a unique index over proven rows), so two organizations
proving the same domain at once cannot both win."""

from __future__ import annotations

import asyncpg

from gateway.stores.errors import DomainTaken
from gateway.stores.postgres.errors import map_postgres_errors
from gateway.stores.records import Row

_COLUMNS = "account_id, domain, token, join_role, created_at, verified_at"


class DomainClaims:
    """Implements `stores.ports.DomainClaimsPort`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def claim(self, account_id: str, domain: str, token: str, join_role: str | None) -> Row:
        """The claim, made now or kept as it was (its token unchanged: a TXT record may be
        published already); its join role is set either way."""
        with map_postgres_errors():
            row = await self.pool.fetchrow(
                "INSERT INTO domain_claims (account_id, domain, token, join_role)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, domain)"
                " DO UPDATE SET join_role = EXCLUDED.join_role"
                f" RETURNING {_COLUMNS}",
                account_id,
                domain,
                token,
                join_role,
            )
        return dict(row)

    async def of_account(self, account_id: str) -> list[Row]:
        with map_postgres_errors():
            rows = await self.pool.fetch(
                f"SELECT {_COLUMNS} FROM domain_claims WHERE account_id = $1 ORDER BY domain",
                account_id,
            )
        return [dict(r) for r in rows]

    async def get(self, account_id: str, domain: str) -> Row | None:
        with map_postgres_errors():
            row = await self.pool.fetchrow(
                f"SELECT {_COLUMNS} FROM domain_claims WHERE account_id = $1 AND domain = $2",
                account_id,
                domain,
            )
        return None if row is None else dict(row)

    async def proven(self, account_id: str, domain: str) -> Row:
        """Mark the claim proven; DomainTaken when another organization proved it first."""
        try:
            row = await self.pool.fetchrow(
                "UPDATE domain_claims SET verified_at = coalesce(verified_at, now())"
                f" WHERE account_id = $1 AND domain = $2 RETURNING {_COLUMNS}",
                account_id,
                domain,
            )
        except asyncpg.UniqueViolationError as exc:
            raise DomainTaken(domain) from exc
        except asyncpg.PostgresError:
            with map_postgres_errors():
                raise
        assert row is not None  # the caller read the claim in this request
        return dict(row)

    async def remove(self, account_id: str, domain: str) -> Row | None:
        with map_postgres_errors():
            row = await self.pool.fetchrow(
                f"DELETE FROM domain_claims WHERE account_id = $1 AND domain = $2"
                f" RETURNING {_COLUMNS}",
                account_id,
                domain,
            )
        return None if row is None else dict(row)

    async def holder(self, domain: str) -> Row | None:
        """The proven claim of `domain`, whichever organization holds it."""
        with map_postgres_errors():
            row = await self.pool.fetchrow(
                f"SELECT {_COLUMNS} FROM domain_claims"
                " WHERE domain = $1 AND verified_at IS NOT NULL",
                domain,
            )
        return None if row is None else dict(row)
