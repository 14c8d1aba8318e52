"""Members' roles: what each may do in its organization, as the scopes the account API and
the dashboard already check (gateway/http/principal.py names them).

owner: everything; admin: members, teams, keys and budgets (no billing); billing: top-ups,
payment methods and invoices; owners, admins and billing read the monthly statements (the
organization's money, month by month); member: their own keys, with each key's spend this month (not
the organization's usage reports); viewer: reads the account, its keys and usage. Only an
owner reads the organization's audit log (`AUDIT_READ`), claims its domains (`DOMAINS`) and
mints its SCIM token (`SCIM_TOKEN`).
`ORG_WRITE` (members, teams, end-user budgets) sets an owner or admin apart from a member,
who may write keys, but only their own.
"""

from __future__ import annotations

from collections.abc import Iterable

ROLES = ("owner", "admin", "billing", "member", "viewer")  # most powerful first
ORG_WRITE = "org:write"
STATEMENTS_READ = "statements:read"  # monthly statements: owners, admins and billing
AUDIT_READ = "audit:read"  # the organization's audit log: owners only
DOMAINS = "domains:write"  # claiming and proving the organization's domains: owners only
SCIM_TOKEN = "scim:token"  # minting the organization's SCIM token: owners only
_READ = frozenset({"account:read", "usage:read", "keys:read"})
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "owner": _READ
    | {
        "keys:write",
        ORG_WRITE,
        "billing:read",
        "billing:setup",
        STATEMENTS_READ,
        AUDIT_READ,
        DOMAINS,
        SCIM_TOKEN,
    },
    "admin": _READ | {"keys:write", ORG_WRITE, STATEMENTS_READ},
    "billing": frozenset(
        {"account:read", "usage:read", "billing:read", "billing:setup", STATEMENTS_READ}
    ),
    "member": frozenset({"account:read", "keys:read", "keys:write"}),
    "viewer": _READ,
}
OWN_KEYS_ONLY = frozenset({"member"})
KEYS_WRITE = "keys:write"


def may_spend(role: str) -> bool:
    """Whether a person of `role` may hold a key that spends the organization's money on
    models: those who may make keys (owner, admin, member). A viewer or billing member gets
    no proxy scope from any path: not the dashboard, the API, `meterway login` nor a key
    minted by a key they own."""
    return KEYS_WRITE in ROLE_SCOPES.get(role, frozenset())


# Who is e-mailed about the account's money (balance, quota, payments) when the operator
# named no address of their own (NOTIFY_EMAIL_TO): the roles that can act on it.
MONEY_CONTACTS = ("owner", "billing")  # roles kept to the keys they created


class RoleError(ValueError):
    """A role that is not one of ROLES."""


def parse_role(value: object) -> str:
    if not isinstance(value, str) or value not in ROLE_SCOPES:
        raise RoleError(f"role must be one of {list(ROLES)}")
    return value


def best_role(values: Iterable[str]) -> str | None:
    """The most powerful role named among an identity provider's group values, if any."""
    named = set(values)
    return next((r for r in ROLES if r in named), None)


def may_grant(granter: str, role: str) -> bool:
    """Only an owner makes owners; an admin grants any other role."""
    return granter == "owner" or (granter == "admin" and role != "owner")
