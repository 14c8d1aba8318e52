"""The people of an account (`account_members`): who may sign in to its dashboard, by an
identity provider's (issuer, subject) once bound, or by e-mail."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import asyncpg

from gateway.stores.errors import DuplicateMember, OnlyOwner
from gateway.stores.postgres.errors import map_postgres_errors
from gateway.stores.records import Row

_COLUMNS = (
    "id, account_id, email, issuer, subject, role, team_id, created_at, signed_in_at, accepted_at"
)
_PENDING = "accepted_at IS NULL AND subject IS NULL"

_REMEMBER_REMOVED = (
    "INSERT INTO removed_members (account_id, issuer, subject, email)"
    " VALUES ($1, coalesce($2, ''), coalesce($3, ''), $4)"
    " ON CONFLICT (account_id, email, issuer, subject) DO UPDATE SET removed_at = now()"
)
# The account's accepted owners, locked: of two changes racing to remove or demote the last
# two owners, the second waits for the first and then sees one owner left.
_OWNERS = (
    "SELECT id FROM account_members WHERE account_id = $1 AND role = 'owner'"
    f" AND NOT ({_PENDING}) ORDER BY id FOR UPDATE"
)


async def _keeps_an_owner(conn: asyncpg.Connection, account_id: str, member: str) -> None:
    """OnlyOwner when `member` is the account's only accepted owner."""
    owners = [r["id"] for r in await conn.fetch(_OWNERS, account_id)]
    if owners == [member]:
        raise OnlyOwner(member)


def member_id() -> str:
    return "mem_" + secrets.token_hex(10)


class Members:
    """Implements `stores.ports.MembersPort`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def add(
        self,
        account_id: str,
        email: str,
        issuer: str = "",
        subject: str = "",
        role: str = "member",
        accept_digest: str = "",
    ) -> Row:
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(
                    "INSERT INTO account_members"
                    " (id, account_id, email, issuer, subject, role, accept_digest, accepted_at)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $5::text IS NULL THEN NULL"
                    f" ELSE now() END) RETURNING {_COLUMNS}",
                    member_id(),
                    account_id,
                    email.lower(),
                    issuer or None,
                    subject or None,
                    role,
                    accept_digest or None,
                )
                await conn.execute(
                    "DELETE FROM removed_members WHERE account_id = $1 AND email = $2",
                    account_id,
                    email.lower(),
                )
        except asyncpg.UniqueViolationError as exc:
            raise DuplicateMember(email) from exc
        except asyncpg.PostgresError:
            with map_postgres_errors():
                raise
        return dict(row)

    async def of_account(self, account_id: str) -> list[Row]:
        with map_postgres_errors():
            rows = await self.pool.fetch(
                f"SELECT {_COLUMNS} FROM account_members WHERE account_id = $1 ORDER BY created_at",
                account_id,
            )
        return [dict(r) for r in rows]

    async def contacts(self, account_id: str, roles: Sequence[str]) -> list[str]:
        """The e-mail addresses of the account's members of `roles` who accepted (a pending
        invitation is nobody's address yet), oldest member first."""
        with map_postgres_errors():
            rows = await self.pool.fetch(
                "SELECT email FROM account_members WHERE account_id = $1"
                f" AND role = ANY($2::text[]) AND NOT ({_PENDING}) ORDER BY created_at",
                account_id,
                list(roles),
            )
        return [str(r["email"]) for r in rows if r["email"]]

    async def get(self, member: str) -> Row | None:
        with map_postgres_errors():
            row = await self.pool.fetchrow(
                f"SELECT {_COLUMNS} FROM account_members WHERE id = $1", member
            )
        return None if row is None else dict(row)

    async def by_subject(self, issuer: str, subject: str) -> Row | None:
        with map_postgres_errors():
            row = await self.pool.fetchrow(
                f"SELECT {_COLUMNS} FROM account_members WHERE issuer = $1 AND subject = $2",
                issuer,
                subject,
            )
        return None if row is None else dict(row)

    async def unbound_by_email(self, email: str) -> list[Row]:
        """Invitations to `email` that no identity provider's user has claimed yet."""
        with map_postgres_errors():
            rows = await self.pool.fetch(
                f"SELECT {_COLUMNS} FROM account_members WHERE email = $1 AND subject IS NULL"
                " ORDER BY created_at",
                email.lower(),
            )
        return [dict(r) for r in rows]

    async def by_email(self, email: str) -> list[Row]:
        with map_postgres_errors():
            rows = await self.pool.fetch(
                f"SELECT {_COLUMNS} FROM account_members WHERE email = $1 ORDER BY created_at",
                email.lower(),
            )
        return [dict(r) for r in rows]

    async def accept(
        self, member: str, email: str, issuer: str = "", subject: str = ""
    ) -> Row | None:
        """The person at `email` accepts the invitation (bound to (issuer, subject) when
        given); None when it is not an unbound one of theirs, DuplicateMember when that
        identity is bound to another member already."""
        try:
            row = await self.pool.fetchrow(
                "UPDATE account_members SET accepted_at = coalesce(accepted_at, now()),"
                " accept_digest = NULL, issuer = coalesce($3, issuer),"
                " subject = coalesce($4, subject)"
                f" WHERE id = $1 AND email = $2 AND subject IS NULL RETURNING {_COLUMNS}",
                member,
                email.lower(),
                issuer or None,
                subject or None,
            )
        except asyncpg.UniqueViolationError as exc:
            raise DuplicateMember(email) from exc
        except asyncpg.PostgresError:
            with map_postgres_errors():
                raise
        return None if row is None else dict(row)

    async def by_accept_digest(self, digest: str, max_age_s: int) -> Row | None:
        with map_postgres_errors():
            row = await self.pool.fetchrow(
                f"SELECT {_COLUMNS} FROM account_members WHERE accept_digest = $1 AND {_PENDING}"
                " AND created_at > now() - $2::int * interval '1 second'",
                digest,
                max_age_s,
            )
        return None if row is None else dict(row)

    async def accept_by_digest(self, digest: str, max_age_s: int) -> Row | None:
        """Accept the invitation whose link this is, once: the link stops working."""
        with map_postgres_errors():
            row = await self.pool.fetchrow(
                "UPDATE account_members SET accepted_at = now(), accept_digest = NULL"
                f" WHERE accept_digest = $1 AND {_PENDING}"
                f" AND created_at > now() - $2::int * interval '1 second' RETURNING {_COLUMNS}",
                digest,
                max_age_s,
            )
        return None if row is None else dict(row)

    async def decline(self, member: str, email: str) -> Row | None:
        """The person at `email` declines a pending invitation of theirs: it is gone."""
        with map_postgres_errors():
            row = await self.pool.fetchrow(
                f"DELETE FROM account_members WHERE id = $1 AND email = $2 AND {_PENDING}"
                f" RETURNING {_COLUMNS}",
                member,
                email.lower(),
            )
        return None if row is None else dict(row)

    async def set_role(self, member: str, role: str, *, keep_an_owner: bool = True) -> Row | None:
        with map_postgres_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                account_id = await conn.fetchval(
                    "SELECT account_id FROM account_members WHERE id = $1", member
                )
                if account_id is None:
                    return None
                if role != "owner" and keep_an_owner:
                    await _keeps_an_owner(conn, account_id, member)
                row = await conn.fetchrow(
                    f"UPDATE account_members SET role = $2 WHERE id = $1 RETURNING {_COLUMNS}",
                    member,
                    role,
                )
        return None if row is None else dict(row)

    async def set_team(self, member: str, team: str | None) -> None:
        with map_postgres_errors():
            await self.pool.execute(
                "UPDATE account_members SET team_id = $2 WHERE id = $1", member, team
            )

    async def own_key(self, key_id: str, member: str) -> None:
        """Record that `member` created the key (a `member` role sees only its own)."""
        with map_postgres_errors():
            await self.pool.execute(
                "UPDATE api_keys SET member_id = $2 WHERE id = $1", key_id, member
            )

    async def keys_of_member(self, member: str) -> list[str]:
        with map_postgres_errors():
            rows = await self.pool.fetch("SELECT id FROM api_keys WHERE member_id = $1", member)
        return [r["id"] for r in rows]

    async def signed_in(self, member: str) -> None:
        with map_postgres_errors():
            await self.pool.execute(
                "UPDATE account_members SET signed_in_at = now() WHERE id = $1", member
            )

    async def remove(self, account_id: str, member: str, *, keep_an_owner: bool = True) -> bool:
        with map_postgres_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                if keep_an_owner:
                    await _keeps_an_owner(conn, account_id, member)
                row = await conn.fetchrow(
                    "DELETE FROM account_members WHERE id = $1 AND account_id = $2"
                    " RETURNING issuer, subject, email",
                    member,
                    account_id,
                )
                if row is not None:
                    await conn.execute(_REMEMBER_REMOVED, account_id, *row.values())
        return row is not None

    async def remember_removed(self, account_id: str, email: str) -> None:
        with map_postgres_errors():
            await self.pool.execute(
                "INSERT INTO removed_members (account_id, email) VALUES ($1, lower($2))"
                " ON CONFLICT DO NOTHING",
                account_id,
                email,
            )

    async def was_removed(
        self, account_id: str, issuer: str, subject: str, email: str = ""
    ) -> bool:
        with map_postgres_errors():
            found = await self.pool.fetchval(
                "SELECT 1 FROM removed_members WHERE account_id = $1 AND ((issuer = $2"
                " AND subject = $3 AND subject <> '') OR email = lower($4)) LIMIT 1",
                account_id,
                issuer,
                subject,
                email,
            )
        return found is not None
