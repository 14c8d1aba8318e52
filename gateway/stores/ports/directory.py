"""The directory's ports: accounts, keys, revocations and dashboard sessions.

What each call promises is in its docstring; every method raises only store errors
(`stores/errors.py`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Protocol

from gateway.stores.records import (
    Row,
)


class DirectoryPort(Protocol):
    """Finding accounts, keys and requests for the account and operator APIs (not the proxy)."""

    async def account_by_external_id(self, external_id: str) -> Row | None:
        """The account whose external id (the identity provider's `sub`) this is."""
        ...

    async def set_external_id(self, account_id: str, external_id: str | None) -> bool:
        """Raises DuplicateExternalId when another account has it; False if no account."""
        ...

    async def search_accounts(
        self, *, query: str | None, plan: str | None, after: str | None, limit: int
    ) -> list[Row]:
        """By name prefix, exact id or external id, and plan; in id order after `after`."""
        ...

    async def keys_of(self, account_id: str, *, include_revoked: bool) -> list[Row]:
        """An account's keys with `last_used_at` and `month_spend_micros` from the rollups."""
        ...

    async def key_with_use(self, key_id: str) -> Row | None:
        """One key with the same use columns, or None."""
        ...

    async def set_key_expiry(self, key_id: str, expires_at: datetime) -> None:
        """Bring a key's expiry forward to `expires_at` (never later than it was)."""
        ...

    async def mark_rotated(self, new_key_id: str, old_key_id: str) -> None:
        """Record that `new_key_id` replaced `old_key_id`."""
        ...

    async def request_entry(self, account_id: str, request_id: str) -> Row | None:
        """The ledger row of one settled request of this account, or None."""
        ...

    async def usage_report(
        self,
        account_id: str,
        start: date,
        end: date,
        group_by: str,
        *,
        model: str | None = None,
        key_id: str | None = None,
        meter: str | None = None,
        end_user: str | None = None,
    ) -> list[Row]:
        """Sums per bucket (day, model, key, meter, team, member, end user) over [start,
        end) from the rollups only, optionally of one model, key, meter and/or end user."""
        ...

    async def usage_series(
        self,
        account_id: str,
        start: date,
        end: date,
        by: Sequence[str],
        filters: Mapping[str, str],
    ) -> list[Row]:
        """Sums per combination of the `by` dimensions (stores/postgres/rollups.DIMENSIONS:
        day, week, month, model, key, meter, team, member, kind; or `tag:<name>`, alone or
        beside a time bucket, billing/usage/tags.py's `tag_of`) over [start, end) from the
        rollups only, each row with one field per dimension; `filters` keeps the rows whose
        dimension equals the value (dimension name -> value)."""
        ...

    async def request_entries(self, account_id: str, request_id: str) -> list[Row]:
        """Every ledger row of one request of this account (debit, void, ...), oldest first,
        live or archived; [] when none."""
        ...

    async def price_card(self, version: str) -> Mapping[str, object] | None:
        """The rate card a debit's price_version names (as the ledger registered it)."""
        ...


class RevocationsPort(Protocol):
    """Revoked user tokens, visible to every gateway process on its next verification."""

    async def revoke_token(self, jti: str, remaining_s: int) -> None:
        """Refuse this jti until the token would have expired anyway."""
        ...

    async def revoke_subject(self, subject: str) -> int:
        """Refuse every token of `subject` issued up to now; the cut-off in ms."""
        ...

    async def is_revoked(self, subject: str, jti: str | None, issued_at: int) -> bool:
        """Whether this token was revoked by jti or by a revoke-all of its subject."""
        ...


class SessionsPort(Protocol):
    """Dashboard sign-ins, shared by every gateway process; each expires on its own."""

    async def create(self, digest: str, data: dict[str, object], ttl_s: int) -> None:
        """Keep `data` under `digest` (the cookie's hash, never the cookie) for `ttl_s`."""
        ...

    async def get(self, digest: str) -> dict[str, object] | None:
        """The session's data, or None when it ended or never began."""
        ...

    async def delete(self, digest: str) -> None:
        """End the session at once (sign-out)."""
        ...


class SigninTicketsPort(Protocol):
    """One-use secrets of sign-ins under way (OIDC state, e-mailed links), by their hash."""

    async def put(self, digest: str, data: dict[str, object], ttl_s: int) -> None: ...

    async def take(self, digest: str) -> dict[str, object] | None:
        """The ticket's data, gone from the store; None when taken already or expired."""
        ...

    async def get(self, digest: str) -> dict[str, object] | None:
        """The ticket's data, left in the store (a sign-in's page of choices)."""
        ...

    async def first_use(self, digest: str, ttl_s: int) -> bool:
        """True the first time `digest` is presented within `ttl_s` (a SAML assertion's id:
        used once), False every later time; two at once: one True."""
        ...

    async def count(self, name: str, window_s: int) -> tuple[int, int]:
        """Count one attempt under `name` in a window of `window_s` that starts with the
        first: (attempts in it so far, seconds until it ends)."""
        ...


class DomainClaimsPort(Protocol):
    """Domains organizations claim and prove (`domain_claims`, billing/members/domains.py)."""

    async def claim(
        self, account_id: str, domain: str, token: str, join_role: str | None
    ) -> Row: ...

    async def of_account(self, account_id: str) -> list[Row]: ...

    async def get(self, account_id: str, domain: str) -> Row | None: ...

    async def proven(self, account_id: str, domain: str) -> Row:
        """Mark the claim proven; raises DomainTaken when another organization has."""
        ...

    async def remove(self, account_id: str, domain: str) -> Row | None: ...

    async def holder(self, domain: str) -> Row | None:
        """The proven claim of `domain` (any organization's), or None."""
        ...


class MembersPort(Protocol):
    """The people who may sign in to an account's dashboard (`account_members`)."""

    async def add(
        self,
        account_id: str,
        email: str,
        issuer: str = "",
        subject: str = "",
        role: str = "member",
        accept_digest: str = "",
    ) -> Row:
        """Invite `email` with a role (billing/roles.py) and the SHA-256 of its accept
        link's secret; a member already, accepted, when (issuer, subject) is given (the
        identity itself is the account's, or its token's claim made it one).
        DuplicateMember if there."""
        ...

    async def set_role(self, member: str, role: str, *, keep_an_owner: bool = True) -> Row | None:
        """Change a member's role; None if there is no such member; OnlyOwner when they
        are the account's only accepted owner and `role` is another (unless not
        `keep_an_owner`: the operator's change)."""
        ...

    async def set_team(self, member: str, team: str | None) -> None:
        """Put a member in a team (the keys they create join it), or in none."""
        ...

    async def own_key(self, key_id: str, member: str) -> None:
        """Record that `member` created the key."""
        ...

    async def keys_of_member(self, member: str) -> list[str]:
        """The ids of the keys `member` created."""
        ...

    async def of_account(self, account_id: str) -> list[Row]: ...

    async def contacts(self, account_id: str, roles: Sequence[str]) -> list[str]:
        """Addresses of the account's accepted members of `roles`."""
        ...

    async def get(self, member: str) -> Row | None: ...

    async def by_subject(self, issuer: str, subject: str) -> Row | None:
        """The member an identity provider's user is bound to."""
        ...

    async def unbound_by_email(self, email: str) -> list[Row]:
        """Rows for `email` no identity provider's user is bound to yet, oldest first."""
        ...

    async def by_email(self, email: str) -> list[Row]: ...

    async def accept(
        self, member: str, email: str, issuer: str = "", subject: str = ""
    ) -> Row | None:
        """The person at `email` accepts an unbound row of theirs (binding it to (issuer,
        subject) when given); None when it is not one; DuplicateMember when that identity
        is bound to another member."""
        ...

    async def by_accept_digest(self, digest: str, max_age_s: int) -> Row | None:
        """The pending invitation whose accept link has this SHA-256, younger than
        `max_age_s`."""
        ...

    async def accept_by_digest(self, digest: str, max_age_s: int) -> Row | None:
        """Accept that invitation once: its link stops working."""
        ...

    async def decline(self, member: str, email: str) -> Row | None:
        """Delete a pending invitation to `email`; None when it is not one."""
        ...

    async def signed_in(self, member: str) -> None: ...

    async def remove(self, account_id: str, member: str, *, keep_an_owner: bool = True) -> bool:
        """Remove a member, remembering their address and (issuer, subject) so no sign-in
        or token adds them back (`was_removed`); inviting their e-mail again, or their
        directory making them active, forgets it. OnlyOwner when they are the account's
        only accepted owner (unless not `keep_an_owner`: the operator's removal)."""
        ...

    async def remember_removed(self, account_id: str, email: str) -> None:
        """Remember `email` as removed too (a deprovisioned person's new address)."""
        ...

    async def was_removed(
        self, account_id: str, issuer: str, subject: str, email: str = ""
    ) -> bool:
        """Whether that identity, or that address, was removed from the account (and not
        invited or restored since)."""
        ...
