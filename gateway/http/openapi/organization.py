"""OpenAPI paths of an organization's people, teams and end-user budgets, the same
operations on the account API (the caller's own organization) and the operator's (an
account named in the path)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from billing.roles import ROLES
from gateway.http.openapi.components import END_USER_BUDGET_SPEC, KEY_TEAM, KEY_TEAM_SET, NEW_TEAM
from gateway.http.openapi.paths import ADMIN, USER
from gateway.http.openapi.schemas import (
    EMAIL,
    STR,
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


def organization_paths(at: _Surface) -> dict[str, Any]:
    """Members (invite, role, remove), teams (create, quotas, a key's team) and end-user
    budgets, the same operations on both surfaces."""

    def call(summary: str, ok: Schema, *params: Schema, **more: Any) -> dict[str, Any]:
        return op(summary, at.tag, at.security, ok=ok, params=params, **more)

    member = path_param("member_id")
    removed = obj(("id", "deleted"), id=STR, deleted={"type": "boolean"})
    invite = obj(("email",), email=EMAIL, role={**_ROLE, "default": at.invited_as})
    return {
        f"{at.org}/members": {
            "get": call(
                f"{at.whose} members: who may sign in to its dashboard",
                obj(("data",), object=STR, data=array(_MEMBER)),
                *at.params,
            ),
            "post": call(
                "Invite a person by e-mail with a role; pending until they accept (accept_url)",
                _MEMBER,
                *at.params,
                status="201",
                body=invite,
            ),
        },
        f"{at.org}/members/{{member_id}}/role": {
            "put": call(
                "Change a member's role",
                _MEMBER,
                *at.params,
                member,
                body=obj(("role",), role=_ROLE),
            )
        },
        f"{at.org}/members/{{member_id}}": {
            "delete": call(
                "Remove a member; their dashboard sessions end", removed, *at.params, member
            )
        },
        f"{at.org}/teams": {
            "get": call(f"{at.whose} teams, by name", ref("TeamList"), *at.params),
            "post": call("Create a team", ref("Team"), *at.params, status="201", body=NEW_TEAM),
        },
        f"{at.root}/teams/{{team_id}}/quotas": {
            "put": call(
                "Set a team's quotas, shared by its keys",
                ref("Team"),
                TEAM_ID,
                body=obj(("quotas",), quotas=array(ref("Quota"))),
            )
        },
        f"{at.root}/keys/{{key_id}}/team": {
            "put": call(
                "Put a key in a team of its organization (null: in none)",
                KEY_TEAM_SET,
                KEY_ID,
                body=KEY_TEAM,
            )
        },
        f"{at.org}/end-user-budgets": {
            "get": call(
                f"{at.whose} end-user budgets: the default, keys' defaults, end users' own",
                ref("EndUserBudgetList"),
                *at.params,
            ),
            "put": call(
                "Set or remove (no quotas) an end-user budget",
                ref("EndUserBudget"),
                *at.params,
                body=END_USER_BUDGET_SPEC,
            ),
        },
    }
