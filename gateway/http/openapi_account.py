"""OpenAPI paths of the account API, user-token revocation and the operator's account tools."""

from __future__ import annotations

from typing import Any

from gateway.http.openapi_paths import ADMIN
from gateway.http.openapi_schemas import (
    INT,
    PAGE_PARAMS,
    STR,
    Schema,
    Security,
    array,
    obj,
    op,
    path_param,
    query,
    ref,
)

USER: Security = [{"apiKey": []}, {"userToken": []}]
_KEY_ID = path_param("key_id")
_ACCOUNT_ID = path_param("account_id")
_NULLABLE_STR: Schema = {"type": ["string", "null"]}
_MEMBER = obj(
    ("id", "account_id", "email"),
    id=STR,
    object=STR,
    account_id=STR,
    email=STR,
    issuer=_NULLABLE_STR,
    subject=_NULLABLE_STR,
    created_at=STR,
    signed_in_at=_NULLABLE_STR,
)
_NEW_KEY = obj(
    ("name",),
    name=STR,
    scopes=array(STR),
    models=array(STR),
    providers=array(STR),
    quotas=array(ref("Quota")),
    on_insufficient={"enum": ["refuse", "clamp", None]},
    expires_at={"type": ["string", "null"], "format": "date-time"},
)
_ROTATED = {
    "allOf": [ref("NewApiKey"), obj(("previous",), previous=ref("ApiKeyUse"))],
}
_USAGE_PARAMS = (
    query("from", {"type": "string", "format": "date"}, "first UTC day (inclusive)"),
    query("to", {"type": "string", "format": "date"}, "last UTC day (exclusive)"),
    query("group_by", {"enum": ["day", "model", "key", "meter"]}),
    query("format", {"enum": ["json", "csv"]}),
    query("model", STR, "only this model"),
    query("key_id", STR, "only this key"),
    query("meter", STR, "only this meter"),
)
_CSV = {"text/csv": {"schema": STR}}


def _usage(summary: str, security: list[dict[str, list[str]]], *params: Any) -> dict[str, Any]:
    out = op(summary, "usage", security, ok=ref("UsageReport"), params=(*params, *_USAGE_PARAMS))
    out["responses"]["200"]["content"].update(_CSV)
    return out


def account_paths() -> dict[str, Any]:
    return {
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
                params=(_KEY_ID,),
            )
        },
        "/v1/account/keys/{key_id}/rotate": {
            "post": op(
                "New secret; the old one works for a grace period",
                "account",
                USER,
                ok=_ROTATED,
                status="201",
                params=(_KEY_ID,),
                body=obj((), grace_seconds={"type": "integer", "minimum": 0, "maximum": 604800}),
                body_required=False,
            )
        },
        "/v1/account/keys/{key_id}/quotas": {
            "put": op(
                "Set a key's own limits, within the account's",
                "account",
                USER,
                ok=ref("ApiKeyUse"),
                params=(_KEY_ID,),
                body=obj(("quotas",), quotas=array(ref("Quota"))),
            )
        },
        "/v1/account/usage": {"get": _usage("Usage from the rollups", USER)},
        "/v1/account/ledger": {
            "get": op(
                "Your ledger, newest first",
                "account",
                USER,
                ok=ref("LedgerPage"),
                params=PAGE_PARAMS,
            )
        },
        "/v1/account/requests/{request_id}": {
            "get": op(
                "One settled request's cost",
                "account",
                USER,
                ok=ref("LedgerEntry"),
                params=(path_param("request_id"),),
            )
        },
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
                    query("q", STR),
                    query("plan", STR),
                    query("after", STR, "last account id of the previous page"),
                    query("limit", {"type": "integer", "minimum": 1, "maximum": 200}),
                ),
            )
        },
        "/admin/v1/accounts/{account_id}": {
            "patch": op(
                "Set an account's external id (the identity provider's sub)",
                "admin",
                ADMIN,
                ok=ref("Account"),
                params=(_ACCOUNT_ID,),
                body=obj((), external_id={"type": ["string", "null"]}),
            )
        },
        "/admin/v1/accounts/{account_id}/keys": {
            "get": op(
                "An account's keys",
                "admin",
                ADMIN,
                ok=ref("KeyList"),
                params=(_ACCOUNT_ID, query("include_revoked", {"type": "boolean"})),
            )
        },
        "/admin/v1/accounts/{account_id}/usage/report": {
            "get": _usage("An account's usage report", ADMIN, _ACCOUNT_ID)
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
        "/admin/v1/accounts/{account_id}/members": {
            "get": op(
                "The people who may sign in to an account's dashboard",
                "admin",
                ADMIN,
                ok=obj(("data",), object=STR, data=array(_MEMBER)),
                params=(_ACCOUNT_ID,),
            ),
            "post": op(
                "Invite a person by e-mail (identity provider or e-mailed link sign-in)",
                "admin",
                ADMIN,
                ok=_MEMBER,
                status="201",
                params=(_ACCOUNT_ID,),
                body=obj(("email",), email=STR),
            ),
        },
        "/admin/v1/accounts/{account_id}/members/{member_id}": {
            "delete": op(
                "Remove a member; their dashboard sessions end",
                "admin",
                ADMIN,
                ok=obj(("id", "deleted"), id=STR, deleted={"type": "boolean"}),
                params=(_ACCOUNT_ID, path_param("member_id")),
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
