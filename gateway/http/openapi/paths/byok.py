"""OpenAPI paths of bring-your-own-key: a customer's own provider keys, and the operator's
view of who holds one and the platform fee."""

from __future__ import annotations

from billing.pricing.byok import MAX_FEE_BPS, MAX_FIXED_MICROS, MAX_KEY_CHARS, MIN_KEY_CHARS
from gateway.http.openapi.paths.operator import ADMIN, USER
from gateway.http.openapi.schemas import (
    QUERY_TEXT,
    STR,
    TIME,
    array,
    micros,
    obj,
    op,
    query,
    whole,
)

UPSTREAM = {
    "name": "upstream",
    "in": "path",
    "required": True,
    "description": "a configured provider whose credential is an API key (OpenAI's or "
    "Anthropic's wire, Azure, Gemini); any other name is not found",
    "schema": STR,
}
_FEE = obj(
    ("object", "percent_bps", "fixed_micros"),
    object={"const": "byok_fee"},
    percent_bps=whole(0, MAX_FEE_BPS),
    fixed_micros=micros(0, MAX_FIXED_MICROS),
)
_KEY = obj(
    ("object", "upstream", "hint", "created_at", "updated_at", "failing_since"),
    object={"const": "byok_key"},
    upstream=STR,
    hint={"type": "string", "description": "the key's last four characters, after '...'"},
    created_at=TIME,
    updated_at=TIME,
    failing_since={**TIME, "description": "when the provider first refused it; null: never"},
    account_id=STR,
)
_LIST = obj(("object", "data", "fee"), object={"const": "list"}, data=array(_KEY), fee=_FEE)
_STORE = obj(
    ("api_key",),
    api_key={
        "type": "string",
        "minLength": MIN_KEY_CHARS,
        "maxLength": MAX_KEY_CHARS,
        "pattern": "^[!-~]+$",
        "description": "the provider key, printable ASCII without spaces; never shown again",
    },
)
_REMOVED = obj(
    ("object", "upstream", "deleted"),
    object={"const": "byok_key"},
    upstream=STR,
    deleted={"const": True},
)
_SET_FEE = obj(
    ("percent_bps", "fixed_micros"),
    percent_bps=whole(0, MAX_FEE_BPS, description="basis points of the call's list price"),
    fixed_micros=micros(0, MAX_FIXED_MICROS, description="a fixed fee per call"),
)

LIST_KEYS = op(
    "The account's own provider keys (hints only) and the fee", "account", USER, ok=_LIST
)
STORE_KEY = op(
    "Store or replace the account's own key for an upstream",
    "account",
    USER,
    ok=_KEY,
    params=(UPSTREAM,),
    body=_STORE,
)
REMOVE_KEY = op(
    "Remove the account's own key for an upstream",
    "account",
    USER,
    ok=_REMOVED,
    params=(UPSTREAM,),
)
ADMIN_LIST_KEYS = op(
    "Which accounts hold their own key, per upstream (never the key), and the fee",
    "admin",
    ADMIN,
    ok=_LIST,
    params=(query("upstream", QUERY_TEXT, "only this upstream's"),),
)
SET_FEE = op(
    "Set the platform fee of calls made with own keys", "admin", ADMIN, ok=_FEE, body=_SET_FEE
)
