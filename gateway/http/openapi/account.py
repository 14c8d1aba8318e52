"""OpenAPI paths of the account API, user-token revocation and the operator's account tools."""

from __future__ import annotations

from typing import Any

from gateway.http.account.alerts import EMAIL as ALERT_EMAIL
from gateway.http.account.alerts import KINDS, MAX_URL, PERIODS, WEB_URL_PATTERN
from gateway.http.account.reports import GROUPS
from gateway.http.account.routes import MAX_GRACE_S
from gateway.http.admin.directory import MAX_SEARCH
from gateway.http.openapi.organization import (
    ACCOUNT_ID,
    ACCOUNT_SURFACE,
    ADMIN_SURFACE,
    KEY_ID,
    organization_paths,
)
from gateway.http.openapi.paths import ADMIN, USER
from gateway.http.openapi.schemas import (
    EXPIRY,
    INT,
    LEDGER_PARAMS,
    PAGE_PARAMS,
    QUERY_TEXT,
    STR,
    TEXT,
    array,
    micros,
    nullable,
    obj,
    op,
    path_param,
    query,
    ref,
    whole,
)
from gateway.stores.records import USAGE_KINDS

_NULLABLE_STR = nullable("string")
# A grant's id: a whole number in ASCII digits (any other path segment is a 400 naming it).
GRANT_ID = {
    "name": "grant_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[1-9][0-9]{0,17}$"},
}
_NEW_KEY = obj(
    ("name",),
    name=TEXT,
    scopes=array(QUERY_TEXT),
    models=array(QUERY_TEXT),
    providers=array(ref("Provider")),
    quotas=array(ref("Quota")),
    on_insufficient={"enum": ["refuse", "clamp", None]},
    expires_at={"anyOf": [EXPIRY, {"type": "null"}]},
)
_ROTATED = {
    "allOf": [ref("NewApiKey"), obj(("previous",), previous=ref("ApiKeyUse"))],
}
_USAGE_PARAMS = (
    query("from", {"type": "string", "format": "date"}, "first UTC day (inclusive)"),
    query("to", {"type": "string", "format": "date"}, "last UTC day (exclusive)"),
    query("group_by", {"enum": list(GROUPS)}),
    query("format", {"enum": ["json", "csv"]}),
    query("model", QUERY_TEXT, "only this model"),
    query("key_id", QUERY_TEXT, "only this key"),
    query("meter", QUERY_TEXT, "only this meter"),
    query("team_id", QUERY_TEXT, "only the keys of this team"),
    query("kind", {"enum": list(USAGE_KINDS)}, "only this kind of usage"),
    query("end_user", QUERY_TEXT, "only this end user"),
)
_CSV = {"text/csv": {"schema": STR}}


def _usage(summary: str, security: list[dict[str, list[str]]], *params: Any) -> dict[str, Any]:
    out = op(summary, "usage", security, ok=ref("UsageReport"), params=(*params, *_USAGE_PARAMS))
    out["responses"]["200"]["content"].update(_CSV)
    return out


_ALERT = obj(
    ("id", "kind", "amount_micros", "period", "email", "webhook_url", "created_at"),
    id=STR,
    object=STR,
    kind={"enum": ["balance_below", "spend_above"]},
    amount_micros=INT,
    period={"enum": ["day", "month", None]},
    email=_NULLABLE_STR,
    webhook_url=_NULLABLE_STR,
    created_at=STR,
    webhook_secret={"type": "string", "description": "shown once, when created"},
)
_NEW_ALERT = obj(
    ("kind", "amount_micros"),
    kind={"enum": list(KINDS)},
    amount_micros=micros(1),
    period={"enum": list(PERIODS), "description": "spend_above's, and only its"},
    email={"type": "string", "pattern": ALERT_EMAIL.pattern},
    webhook_url={"type": "string", "maxLength": MAX_URL, "pattern": WEB_URL_PATTERN},
)
_NEW_ALERT["allOf"] = [
    {"anyOf": [{"required": ["email"]}, {"required": ["webhook_url"]}]},
    {
        "oneOf": [
            {
                "properties": {"kind": {"const": "balance_below"}},
                "not": {"required": ["period"]},
            },
            {"properties": {"kind": {"const": "spend_above"}}, "required": ["period"]},
        ]
    },
]


def _alert_paths() -> dict[str, Any]:
    return {
        "/v1/account/alerts": {
            "get": op(
                "Your alerts", "account", USER, ok=obj(("data",), object=STR, data=array(_ALERT))
            ),
            "post": op(
                "Alert me: balance below or spend above, to my e-mail or webhook",
                "account",
                USER,
                ok=_ALERT,
                status="201",
                body=_NEW_ALERT,
            ),
        },
        "/v1/account/alerts/{alert_id}": {
            "delete": op(
                "Delete an alert",
                "account",
                USER,
                ok=obj(("id", "deleted"), id=STR, object=STR, deleted={"type": "boolean"}),
                params=(path_param("alert_id"),),
            )
        },
    }


def account_paths() -> dict[str, Any]:
    return _alert_paths() | {
        "/v1/account": {
            "get": op(
                "Your plan, balance and quota windows", "account", USER, ok=ref("AccountOverview")
            )
        },
        "/v1/account/keys": {
            "get": op("Your API keys", "account", USER, ok=ref("KeyList")),
            "post": op(
                "Create a key (never wider than you)",
                "account",
                USER,
                ok=ref("NewApiKey"),
                status="201",
                body=_NEW_KEY,
            ),
        },
        "/v1/account/keys/{key_id}": {
            "delete": op(
                "Delete (revoke) a key",
                "account",
                USER,
                ok=obj(("id", "deleted"), id=STR, object=STR, deleted={"const": True}),
                params=(KEY_ID,),
            ),
            "patch": op(
                "Narrow a key's scopes or expiry; the keys minted under it follow",
                "account",
                USER,
                ok=ref("ApiKeyUse"),
                params=(KEY_ID,),
                body=obj((), scopes=array(QUERY_TEXT), expires_at=EXPIRY),
            ),
        },
        "/v1/account/keys/{key_id}/rotate": {
            "post": op(
                "New secret; the old one works for a grace period",
                "account",
                USER,
                ok=_ROTATED,
                status="201",
                params=(KEY_ID,),
                body=obj((), grace_seconds=whole(0, MAX_GRACE_S)),
                body_required=False,
            )
        },
        "/admin/v1/keys/{key_id}/rotate": {
            "post": op(
                "New secret for any account's key; the old one works for a grace period",
                "admin",
                ADMIN,
                ok=_ROTATED,
                status="201",
                params=(KEY_ID,),
                body=obj((), grace_seconds=whole(0, MAX_GRACE_S)),
                body_required=False,
            )
        },
        "/v1/account/keys/{key_id}/quotas": {
            "put": op(
                "Set a key's own limits, within the account's",
                "account",
                USER,
                ok=ref("ApiKeyUse"),
                params=(KEY_ID,),
                body=obj(("quotas",), quotas=array(ref("Quota"))),
            )
        },
        "/v1/account/usage": {"get": _usage("Usage from the rollups", USER)},
        "/v1/account/ledger": {
            "get": op(
                "Your ledger, newest first, of the filters given",
                "account",
                USER,
                ok=ref("LedgerPage"),
                params=(*PAGE_PARAMS, *LEDGER_PARAMS),
            )
        },
        "/v1/account/requests/{request_id}": {
            "get": op(
                "One settled request's cost: its entry, every row and the debit's arithmetic",
                "account",
                USER,
                ok=ref("RequestCost"),
                params=(path_param("request_id"),),
            )
        },
        "/v1/account/grants": {
            "get": op("Your credit grants, newest first", "account", USER, ok=ref("GrantList"))
        },
        **organization_paths(ACCOUNT_SURFACE),
        "/v1/auth/revoke": {
            "post": op(
                "Revoke the presented user token (by jti)",
                "auth",
                [{"userToken": []}],
                ok=obj(("jti", "revoked"), object=STR, jti=STR, revoked=BOOL_TRUE),
            )
        },
    }


BOOL_TRUE = {"const": True}


def admin_directory_paths() -> dict[str, Any]:
    accounts = obj(
        ("data", "has_more"),
        object={"const": "list"},
        data=array(ref("Account")),
        has_more={"type": "boolean"},
        next_after={"type": ["string", "null"]},
    )
    return {
        "/admin/v1/accounts": {
            "get": op(
                "Search accounts by name prefix, id or external id, and plan",
                "admin",
                ADMIN,
                ok=accounts,
                params=(
                    query("q", QUERY_TEXT),
                    query("plan", QUERY_TEXT),
                    query("after", QUERY_TEXT, "last account id of the previous page"),
                    query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_SEARCH}),
                ),
            )
        },
        "/admin/v1/accounts/{account_id}": {
            "patch": op(
                "Set an account's external id (the identity provider's sub)",
                "admin",
                ADMIN,
                ok=ref("Account"),
                params=(ACCOUNT_ID,),
                body=obj((), external_id={"anyOf": [TEXT, {"type": "null"}]}),
            )
        },
        "/admin/v1/accounts/{account_id}/keys": {
            "get": op(
                "An account's keys",
                "admin",
                ADMIN,
                ok=ref("KeyList"),
                params=(ACCOUNT_ID, query("include_revoked", {"type": "boolean"})),
            )
        },
        "/admin/v1/accounts/{account_id}/usage/report": {
            "get": _usage("An account's usage report", ADMIN, ACCOUNT_ID)
        },
        "/admin/v1/prices": {
            "get": op(
                "The rate cards billed now, by model and service tier, and the catalogue loaded",
                "admin",
                ADMIN,
                ok=obj(
                    ("catalogue", "models"),
                    catalogue={"type": ["string", "null"]},
                    models={"type": "object"},
                ),
            )
        },
        **organization_paths(ADMIN_SURFACE),
        "/admin/v1/accounts/{account_id}/grants": {
            "get": op(
                "An account's credit grants, newest first",
                "admin",
                ADMIN,
                ok=ref("GrantList"),
                params=(ACCOUNT_ID,),
            )
        },
        "/admin/v1/accounts/{account_id}/grants/{grant_id}/revoke": {
            "post": op(
                "Revoke a grant: its rest is written off by an expire entry within seconds",
                "admin",
                ADMIN,
                ok=ref("CreditGrant"),
                params=(ACCOUNT_ID, GRANT_ID),
                body=obj((), idempotency_key=TEXT),
                body_required=False,
            )
        },
        "/admin/v1/users/{subject}/revoke-tokens": {
            "post": op(
                "Revoke every token of a user issued until now",
                "admin",
                ADMIN,
                ok=obj(
                    ("subject", "revoked_before_ms"), object=STR, subject=STR, revoked_before_ms=INT
                ),
                params=(path_param("subject"),),
            )
        },
    }
