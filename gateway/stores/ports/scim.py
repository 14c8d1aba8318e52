"""The port of SCIM provisioning (stores/postgres/members/scim.py): an organization's directory
token, its users (each a member while active) and its groups (each a team)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from gateway.stores.records import Row


class ScimPort(Protocol):
    """Rows carry `attributes` (users) as a dict and `members` (groups) as user ids. A
    userName or displayName taken in the organization raises DuplicateScim."""

    async def put_token(self, account_id: str, token_id: str, digest: str, prefix: str) -> Row:
        """The organization's one token, replacing any before it (which stops working)."""
        ...

    async def token(self, account_id: str) -> Row | None:
        """The organization's token (id, prefix, created_at; never the hash's secret)."""
        ...

    async def token_account(self, digest: str) -> str | None:
        """The organization whose token has this SHA-256."""
        ...

    async def users(self, account_id: str) -> list[Row]: ...

    async def user(self, account_id: str, user_id: str) -> Row | None: ...

    async def create_user(self, account_id: str, fields: Mapping[str, Any], role: str) -> Row:
        """A user and, when active, its member (the organization's member of that e-mail if
        there is one, else a new one of `role`, accepted: the directory vouches for them)."""
        ...

    async def update_user(self, user_id: str, fields: Mapping[str, Any]) -> Row:
        """New userName, externalId, e-mail and attributes; the version moves on."""
        ...

    async def activate(self, user_id: str, role: str) -> Row:
        """Active again, with a member (as `create_user` finds or adds one)."""
        ...

    async def deactivate(self, user_id: str) -> Row:
        """Inactive; its member was removed before (services/members/identity.py)."""
        ...

    async def delete_user(self, user_id: str) -> None: ...

    async def groups_of_user(self, user_id: str) -> list[Row]:
        """The user's groups, the one joined first first."""
        ...

    async def groups(self, account_id: str) -> list[Row]: ...

    async def group(self, account_id: str, group_id: str) -> Row | None: ...

    async def create_group(
        self, account_id: str, name: str, external_id: str | None, team_id: str
    ) -> Row: ...

    async def update_group(self, group_id: str, name: str, external_id: str | None) -> Row: ...

    async def set_members(self, group_id: str, user_ids: Sequence[str]) -> Row:
        """The group's members are exactly `user_ids`; the version moves on."""
        ...

    async def delete_group(self, group_id: str) -> None: ...
