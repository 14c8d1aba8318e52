"""OpenAPI paths of the account API, user-token revocation and the operator's account tools."""

from __future__ import annotations

from typing import Any

from gateway.http.fields import ALERT_KINDS as KINDS
from gateway.http.fields import ALERT_PERIODS as PERIODS
from gateway.http.fields import EMAIL as ALERT_EMAIL
from gateway.http.fields import MAX_GRACE_S, MAX_SEARCH, MAX_URL, WEB_URL_PATTERN
from gateway.http.openapi.components import GROUP_BY
from gateway.http.openapi.paths.operator import ADMIN, USER
from gateway.http.openapi.paths.organization import (
    ACCOUNT_ID,
    KEY_ID,
)
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
    query("group_by", GROUP_BY),
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


LIST_ALERTS = op("Your alerts", "account", USER, ok=obj(("data",), object=STR, data=array(_ALERT)))
CREATE_ALERT = op(
    "Alert me: balance below or spend above, to my e-mail or webhook",
    "account",
    USER,
    ok=_ALERT,
    status="201",
    body=_NEW_ALERT,
)
DELETE_ALERT = op(
    "Delete an alert",
    "account",
    USER,
    ok=obj(("id", "deleted"), id=STR, object=STR, deleted={"type": "boolean"}),
    params=(path_param("alert_id"),),
)


GET_ACCOUNT = op("Your plan, balance and quota windows", "account", USER, ok=ref("AccountOverview"))
LIST_KEYS = op("Your API keys", "account", USER, ok=ref("KeyList"))
CREATE_KEY = op(
    "Create a key (never wider than you)",
    "account",
    USER,
    ok=ref("NewApiKey"),
    status="201",
    body=_NEW_KEY,
)
DELETE_KEY = op(
    "Delete (revoke) a key",
    "account",
    USER,
    ok=obj(("id", "deleted"), id=STR, object=STR, deleted={"const": True}),
    params=(KEY_ID,),
)
NARROW_KEY = op(
    "Narrow a key's scopes or expiry; the keys minted under it follow",
    "account",
    USER,
    ok=ref("ApiKeyUse"),
    params=(KEY_ID,),
    body=obj((), scopes=array(QUERY_TEXT), expires_at=EXPIRY),
)
_GRACE = obj((), grace_seconds=whole(0, MAX_GRACE_S))
ROTATE_KEY, ADMIN_ROTATE_KEY = (
    op(
        summary,
        tag,
        security,
        ok=_ROTATED,
        status="201",
        params=(KEY_ID,),
        body=_GRACE,
        body_required=False,
    )
    for summary, tag, security in (
        ("New secret; the old one works for a grace period", "account", USER),
        ("New secret for any account's key; the old one works for a grace period", "admin", ADMIN),
    )
)
PUT_QUOTAS = op(
    "Set a key's own limits, within the account's",
    "account",
    USER,
    ok=ref("ApiKeyUse"),
    params=(KEY_ID,),
    body=obj(("quotas",), quotas=array(ref("Quota"))),
)
USAGE = _usage("Usage from the rollups", USER)
LEDGER = op(
    "Your ledger, newest first, of the filters given",
    "account",
    USER,
    ok=ref("LedgerPage"),
    params=(*PAGE_PARAMS, *LEDGER_PARAMS),
)
REQUEST_COST_OF = op(
    "One settled request's cost: its entry, every row and the debit's arithmetic",
    "account",
    USER,
    ok=ref("RequestCost"),
    params=(path_param("request_id"),),
)
RUNWAY = op(
    "When the account's credit runs out at its recent rate, or its next top-up is due",
    "account",
    USER,
    ok=obj(
        ("object", "prepaid", "words", "budgets"),
        object={"const": "runway"},
        prepaid={"type": "boolean"},
        words=STR,
        rate_micros_per_day=INT,
        basis_days=INT,
        days_left=nullable("integer"),
        expires_unspent_micros=INT,
        top_up_in_days=nullable("integer"),
        budgets=array(
            obj(
                ("window", "limit_micros", "used_micros", "days_left", "before_reset", "words"),
                window=STR,
                limit_micros=INT,
                used_micros=INT,
                days_left=nullable("integer"),
                before_reset={"type": "boolean"},
                words=STR,
            )
        ),
    ),
)
RECEIPT = op(
    "A settled request's signed receipt (a JWS to check against /.well-known/meterway-keys.json)",
    "account",
    USER,
    ok=obj(("object", "request_id", "receipt"), object=STR, request_id=STR, receipt=STR),
    params=(path_param("request_id"),),
)
OWN_GRANTS = op("Your credit grants, newest first", "account", USER, ok=ref("GrantList"))
BOOL_TRUE = {"const": True}
REVOKE = op(
    "Revoke the presented user token (by jti)",
    "auth",
    [{"userToken": []}],
    ok=obj(("jti", "revoked"), object=STR, jti=STR, revoked=BOOL_TRUE),
)


_ACCOUNTS = obj(
    ("data", "has_more"),
    object={"const": "list"},
    data=array(ref("Account")),
    has_more={"type": "boolean"},
    next_after={"type": ["string", "null"]},
)
SEARCH_ACCOUNTS = op(
    "Search accounts by name prefix, id or external id, and plan",
    "admin",
    ADMIN,
    ok=_ACCOUNTS,
    params=(
        query("q", QUERY_TEXT),
        query("plan", QUERY_TEXT),
        query("after", QUERY_TEXT, "last account id of the previous page"),
        query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_SEARCH}),
    ),
)
PATCH_ACCOUNT = op(
    "Set an account's external id (the identity provider's sub)",
    "admin",
    ADMIN,
    ok=ref("Account"),
    params=(ACCOUNT_ID,),
    body=obj((), external_id={"anyOf": [TEXT, {"type": "null"}]}),
)
ACCOUNT_KEYS = op(
    "An account's keys",
    "admin",
    ADMIN,
    ok=ref("KeyList"),
    params=(ACCOUNT_ID, query("include_revoked", {"type": "boolean"})),
)
USAGE_REPORT = _usage("An account's usage report", ADMIN, ACCOUNT_ID)
CURRENT_PRICES = op(
    "The rate cards billed now, by model and service tier, and the catalogue loaded",
    "admin",
    ADMIN,
    ok=obj(
        ("catalogue", "models"),
        catalogue={"type": ["string", "null"]},
        models={"type": "object"},
    ),
)
PROVIDER_DIFFERENCES = op(
    "The differences between the ledger and the providers' usage and cost reports",
    "admin",
    ADMIN,
    ok=obj(("differences", "runs"), differences={"type": "array"}, runs={"type": "array"}),
    params=(
        query("day", {"type": "string", "format": "date"}, "one UTC day; none: every day kept"),
        query("format", {"enum": ["json", "csv"]}),
    ),
)
PROVIDER_DIFFERENCES["responses"]["200"]["content"].update(_CSV)  # format=csv: the export
ACCOUNT_GRANTS = op(
    "An account's credit grants, newest first",
    "admin",
    ADMIN,
    ok=ref("GrantList"),
    params=(ACCOUNT_ID,),
)
ADMIN_REVOKE = op(
    "Revoke a grant: its rest is written off by an expire entry within seconds",
    "admin",
    ADMIN,
    ok=ref("CreditGrant"),
    params=(ACCOUNT_ID, GRANT_ID),
    body=obj((), idempotency_key=TEXT),
    body_required=False,
)
REVOKE_USER_TOKENS = op(
    "Revoke every token of a user issued until now",
    "admin",
    ADMIN,
    ok=obj(("subject", "revoked_before_ms"), object=STR, subject=STR, revoked_before_ms=INT),
    params=(path_param("subject"),),
)
