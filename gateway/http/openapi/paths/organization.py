"""OpenAPI operations of an organization's people, teams and end-user budgets, the same
operations on the account API (the caller's own organization) and the operator's (an
account named in the path): each takes its route's path, which says the surface."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from billing.roles import ROLES
from gateway.http.openapi.components import (
    END_USER_BUDGET_SPEC,
    KEY_TEAM,
    KEY_TEAM_SET,
    NEW_TEAM,
    TAGS,
)
from gateway.http.openapi.paths.operator import ADMIN, USER
from gateway.http.openapi.schemas import (
    EMAIL,
    STR,
    Operation,
    Schema,
    Security,
    array,
    nullable,
    obj,
    op,
    path_param,
    ref,
)

KEY_ID = path_param("key_id")
ACCOUNT_ID = path_param("account_id")
TEAM_ID = path_param("team_id")
_NULLABLE_STR = nullable("string")
TAGS_BODY = obj(("tags",), tags=TAGS)
_ROLE: Schema = {"enum": list(ROLES)}
_MEMBER = obj(
    ("id", "account_id", "email"),
    id=STR,
    object=STR,
    account_id=STR,
    email=STR,
    issuer=_NULLABLE_STR,
    subject=_NULLABLE_STR,
    role=_ROLE,
    team_id=_NULLABLE_STR,
    created_at=STR,
    signed_in_at=_NULLABLE_STR,
    accepted_at=_NULLABLE_STR,  # null: an invitation its person has not accepted yet
    accept_url=STR,  # in the invite's answer only: the one-use accept link to pass on
)


@dataclass(frozen=True)
class _Surface:
    """Where one surface keeps an organization's people, teams and end-user budgets: the
    member's own account API names none (`org` is /v1/account), the operator's names it in
    the path (`params`); team and key routes hang off `root`."""

    tag: str
    security: Security
    whose: str  # how summaries name the organization
    org: str
    params: tuple[Schema, ...]
    root: str
    invited_as: str  # the role an invitation gets by default


ACCOUNT_SURFACE = _Surface(
    "account", USER, "Your organization's", "/v1/account", (), "/v1/account", "member"
)
ADMIN_SURFACE = _Surface(
    "admin",
    ADMIN,
    "An account's",
    "/admin/v1/accounts/{account_id}",
    (ACCOUNT_ID,),
    "/admin/v1",
    "owner",
)


def _at(path: str) -> _Surface:
    """The surface a path is on: the operator's names the account, the account API not."""
    return ADMIN_SURFACE if path.startswith("/admin/") else ACCOUNT_SURFACE


def _call(path: str, summary: str, ok: Schema, *params: Schema, **more: Any) -> Operation:
    at = _at(path)
    return op(summary, at.tag, at.security, ok=ok, params=params, **more)


_MEMBER_ID = path_param("member_id")
_REMOVED = obj(("id", "deleted"), id=STR, deleted={"type": "boolean"})


def list_members(path: str) -> Operation:
    at = _at(path)
    members = obj(("data",), object=STR, data=array(_MEMBER))
    return _call(path, f"{at.whose} members: who may sign in to its dashboard", members, *at.params)


def invite(path: str) -> Operation:
    at = _at(path)
    body = obj(("email",), email=EMAIL, role={**_ROLE, "default": at.invited_as})
    return _call(
        path,
        "Invite a person by e-mail with a role; pending until they accept (accept_url)",
        _MEMBER,
        *at.params,
        status="201",
        body=body,
    )


def set_role(path: str) -> Operation:
    body = obj(("role",), role=_ROLE)
    return _call(path, "Change a member's role", _MEMBER, *_at(path).params, _MEMBER_ID, body=body)


def remove_member(path: str) -> Operation:
    summary = "Remove a member; their dashboard sessions end"
    return _call(path, summary, _REMOVED, *_at(path).params, _MEMBER_ID)


def list_teams(path: str) -> Operation:
    at = _at(path)
    return _call(path, f"{at.whose} teams, by name", ref("TeamList"), *at.params)


def create_team(path: str) -> Operation:
    params = _at(path).params
    return _call(path, "Create a team", ref("Team"), *params, status="201", body=NEW_TEAM)


def team_quotas(path: str) -> Operation:
    body = obj(("quotas",), quotas=array(ref("Quota")))
    return _call(path, "Set a team's quotas, shared by its keys", ref("Team"), TEAM_ID, body=body)


def team_tags(path: str) -> Operation:
    summary = "Set a team's tags for chargeback (its keys' own tags override them)"
    return _call(path, summary, ref("Team"), TEAM_ID, body=TAGS_BODY)


def key_tags(path: str) -> Operation:
    summary = "Set a key's own tags for chargeback, laid over its team's"
    return _call(path, summary, ref("ApiKey"), KEY_ID, body=TAGS_BODY)


def key_team(path: str) -> Operation:
    summary = "Put a key in a team of its organization (null: in none)"
    return _call(path, summary, KEY_TEAM_SET, KEY_ID, body=KEY_TEAM)


def list_budgets(path: str) -> Operation:
    at = _at(path)
    summary = f"{at.whose} end-user budgets: the default, keys' defaults, end users' own"
    return _call(path, summary, ref("EndUserBudgetList"), *at.params)


def set_budget(path: str) -> Operation:
    summary = "Set or remove (no quotas) an end-user budget"
    params = _at(path).params
    return _call(path, summary, ref("EndUserBudget"), *params, body=END_USER_BUDGET_SPEC)
