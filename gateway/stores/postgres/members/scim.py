"""SCIM provisioning in PostgreSQL (migration 081): the organization's directory token by
its SHA-256, its users (`scim_users`, each bound to its member while active) and groups
(`scim_groups`, each bound to a team, with `scim_group_members`). Implements
`stores.ports.scim.ScimPort`."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from gateway.stores.errors import DuplicateScim
from gateway.stores.postgres.errors import map_postgres_errors
from gateway.stores.postgres.members.people import member_id
from gateway.stores.records import Row

_USER = (
    "id, account_id, user_name, external_id, active, member_id, email, attributes, version,"
    " created_at, updated_at"
)
_GROUP = (
    "g.id, g.account_id, g.display_name, g.external_id, g.team_id, g.version, g.created_at,"
    " g.updated_at, coalesce((SELECT array_agg(m.user_id ORDER BY m.joined_at, m.user_id)"
    " FROM scim_group_members m WHERE m.group_id = g.id), '{}') AS members"
)
# The member a directory's user is: the organization's member of that e-mail (invited
# before the directory came), or a new one, accepted; a removal remembered is lifted.
_MEMBER = (
    "INSERT INTO account_members (id, account_id, email, role, accepted_at)"
    " VALUES ($1, $2, $3, $4, now()) ON CONFLICT (account_id, email) DO UPDATE"
    " SET accepted_at = coalesce(account_members.accepted_at, now()) RETURNING id"
)


def scim_id() -> str:
    return secrets.token_hex(16)


def _user(record: asyncpg.Record | None) -> Row:
    assert record is not None
    row = dict(record)
    raw = row["attributes"]
    row["attributes"] = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
    return row


def _group(record: asyncpg.Record | None) -> Row:
    assert record is not None
    row = dict(record)
    row["members"] = list(row["members"])
    return row


class Scim:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def put_token(self, account_id: str, token_id: str, digest: str, prefix: str) -> Row:
        with map_postgres_errors():
            row = await self.pool.fetchrow(
                "INSERT INTO scim_tokens (account_id, id, token_hash, prefix) VALUES"
                " ($1, $2, $3, $4) ON CONFLICT (account_id) DO UPDATE SET id = $2,"
                " token_hash = $3, prefix = $4, created_at = now()"
                " RETURNING account_id, id, prefix, created_at",
                account_id,
                token_id,
                digest,
                prefix,
            )
        return dict(row)

    async def token(self, account_id: str) -> Row | None:
        with map_postgres_errors():
            row = await self.pool.fetchrow(
                "SELECT account_id, id, prefix, created_at FROM scim_tokens WHERE account_id = $1",
                account_id,
            )
        return None if row is None else dict(row)

    async def token_account(self, digest: str) -> str | None:
        with map_postgres_errors():
            found = await self.pool.fetchval(
                "SELECT account_id FROM scim_tokens WHERE token_hash = $1", digest
            )
        return None if found is None else str(found)

    async def users(self, account_id: str) -> list[Row]:
        with map_postgres_errors():
            rows = await self.pool.fetch(
                f"SELECT {_USER} FROM scim_users WHERE account_id = $1 ORDER BY created_at, id",
                account_id,
            )
        return [_user(r) for r in rows]

    async def user(self, account_id: str, user_id: str) -> Row | None:
        with map_postgres_errors():
            row = await self.pool.fetchrow(
                f"SELECT {_USER} FROM scim_users WHERE account_id = $1 AND id = $2",
                account_id,
                user_id,
            )
        return None if row is None else _user(row)

    async def _write(self, query: str, *args: Any) -> asyncpg.Record | None:
        """One statement; a name (or member) taken raises DuplicateScim."""
        try:
            return await self.pool.fetchrow(query, *args)
        except asyncpg.UniqueViolationError as exc:
            raise DuplicateScim(str(exc)) from exc
        except asyncpg.PostgresError:
            with map_postgres_errors():
                raise
        return None  # unreachable: map_postgres_errors raises

    async def _member(
        self, conn: asyncpg.Connection, account_id: str, email: str, role: str
    ) -> str:
        found = await conn.fetchval(_MEMBER, member_id(), account_id, email.lower(), role)
        await conn.execute(
            "DELETE FROM removed_members WHERE account_id = $1 AND email = $2",
            account_id,
            email.lower(),
        )
        return str(found)

    async def create_user(self, account_id: str, fields: Mapping[str, Any], role: str) -> Row:
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                active = bool(fields["active"])
                member = (
                    await self._member(conn, account_id, fields["email"], role) if active else None
                )
                row = await conn.fetchrow(
                    "INSERT INTO scim_users (id, account_id, user_name, external_id, active,"
                    " member_id, email, attributes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                    f" RETURNING {_USER}",
                    scim_id(),
                    account_id,
                    fields["user_name"],
                    fields["external_id"],
                    active,
                    member,
                    fields["email"].lower(),
                    json.dumps(fields["attributes"]),
                )
        except asyncpg.UniqueViolationError as exc:
            raise DuplicateScim(str(exc)) from exc
        except asyncpg.PostgresError:
            with map_postgres_errors():
                raise
        return _user(row)

    async def update_user(self, user_id: str, fields: Mapping[str, Any]) -> Row:
        row = await self._write(
            "UPDATE scim_users SET user_name = $2, external_id = $3, email = $4,"
            " attributes = $5, version = version + 1, updated_at = now() WHERE id = $1"
            f" RETURNING {_USER}",
            user_id,
            fields["user_name"],
            fields["external_id"],
            fields["email"].lower(),
            json.dumps(fields["attributes"]),
        )
        return _user(row)

    async def activate(self, user_id: str, role: str) -> Row:
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                user = await conn.fetchrow(
                    "SELECT account_id, email FROM scim_users WHERE id = $1 FOR UPDATE", user_id
                )
                member = await self._member(conn, user["account_id"], user["email"], role)
                row = await conn.fetchrow(
                    "UPDATE scim_users SET active = true, member_id = $2, version = version + 1,"
                    f" updated_at = now() WHERE id = $1 RETURNING {_USER}",
                    user_id,
                    member,
                )
        except asyncpg.UniqueViolationError as exc:
            raise DuplicateScim(str(exc)) from exc
        except asyncpg.PostgresError:
            with map_postgres_errors():
                raise
        return _user(row)

    async def deactivate(self, user_id: str) -> Row:
        row = await self._write(
            "UPDATE scim_users SET active = false, member_id = NULL, version = version + 1,"
            f" updated_at = now() WHERE id = $1 RETURNING {_USER}",
            user_id,
        )
        return _user(row)

    async def delete_user(self, user_id: str) -> None:
        with map_postgres_errors():
            await self.pool.execute("DELETE FROM scim_users WHERE id = $1", user_id)

    async def groups_of_user(self, user_id: str) -> list[Row]:
        with map_postgres_errors():
            rows = await self.pool.fetch(
                f"SELECT {_GROUP} FROM scim_groups g JOIN scim_group_members j"
                " ON j.group_id = g.id WHERE j.user_id = $1 ORDER BY j.joined_at, g.id",
                user_id,
            )
        return [_group(r) for r in rows]

    async def groups(self, account_id: str) -> list[Row]:
        with map_postgres_errors():
            rows = await self.pool.fetch(
                f"SELECT {_GROUP} FROM scim_groups g WHERE g.account_id = $1"
                " ORDER BY g.created_at, g.id",
                account_id,
            )
        return [_group(r) for r in rows]

    async def group(self, account_id: str, group_id: str) -> Row | None:
        with map_postgres_errors():
            row = await self.pool.fetchrow(
                f"SELECT {_GROUP} FROM scim_groups g WHERE g.account_id = $1 AND g.id = $2",
                account_id,
                group_id,
            )
        return None if row is None else _group(row)

    async def _one_group(self, group_id: str) -> Row:
        with map_postgres_errors():
            row = await self.pool.fetchrow(
                f"SELECT {_GROUP} FROM scim_groups g WHERE g.id = $1", group_id
            )
        return _group(row)

    async def create_group(
        self, account_id: str, name: str, external_id: str | None, team_id: str
    ) -> Row:
        row = await self._write(
            "INSERT INTO scim_groups (id, account_id, display_name, external_id, team_id)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING id",
            scim_id(),
            account_id,
            name,
            external_id,
            team_id,
        )
        assert row is not None
        return await self._one_group(row["id"])

    async def update_group(self, group_id: str, name: str, external_id: str | None) -> Row:
        await self._write(
            "UPDATE scim_groups SET display_name = $2, external_id = $3, version = version + 1,"
            " updated_at = now() WHERE id = $1 RETURNING id",
            group_id,
            name,
            external_id,
        )
        return await self._one_group(group_id)

    async def set_members(self, group_id: str, user_ids: Sequence[str]) -> Row:
        with map_postgres_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "DELETE FROM scim_group_members WHERE group_id = $1"
                    " AND NOT (user_id = ANY($2::text[]))",
                    group_id,
                    list(user_ids),
                )
                await conn.execute(
                    "INSERT INTO scim_group_members (group_id, user_id)"
                    " SELECT $1, u FROM unnest($2::text[]) AS u ON CONFLICT DO NOTHING",
                    group_id,
                    list(user_ids),
                )
                await conn.execute(
                    "UPDATE scim_groups SET version = version + 1, updated_at = now()"
                    " WHERE id = $1",
                    group_id,
                )
        return await self._one_group(group_id)

    async def delete_group(self, group_id: str) -> None:
        with map_postgres_errors():
            await self.pool.execute("DELETE FROM scim_groups WHERE id = $1", group_id)
