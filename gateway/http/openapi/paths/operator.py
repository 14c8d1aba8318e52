"""OpenAPI paths of the operator API, health, metrics and the document itself, and the
security each surface asks for (the proxy's paths are in proxy_paths.py)."""

from __future__ import annotations

from typing import Any

from billing.money.micros import MAX_CREDIT_LINE_MICROS as MAX_CREDIT_LINE
from billing.money.micros import MAX_EXACT
from gateway.http.openapi.components import (
    GRANT_SPEC,
)
from gateway.http.openapi.schemas import (
    BOOL,
    EXPIRY,
    INT,
    JSON_OBJECT,
    LEDGER_PARAMS,
    MICROS,
    PAGE_PARAMS,
    QUERY_TEXT,
    STR,
    TEXT,
    TIME,
    Security,
    array,
    micros,
    obj,
    op,
    path_param,
    ref,
    whole,
)
from gateway.services.money.refunds import CENT

PROXY: Security = [{"apiKey": []}]
ADMIN: Security = [{"adminKey": []}]
USER: Security = [{"apiKey": []}, {"userToken": []}]  # the account API: a key or a person
OPEN: Security = []


def _page(summary: str, *params: Any) -> dict[str, Any]:
    """A page or asset for people (HTML, CSS, JavaScript), not a JSON answer."""
    operation = op(summary, "health", OPEN, ok=STR, params=params)
    operation["responses"]["200"] = {
        "description": summary,
        "content": {"text/html": {"schema": STR}},
    }
    return operation


_ACCOUNT_ID = path_param("account_id")
_KEY_ID = path_param("key_id")
_NEW_ACCOUNT = obj(
    ("name",),
    name=TEXT,
    plan=ref("PlanName"),
    external_id={"anyOf": [TEXT, {"type": "null"}]},
    idempotency_key=TEXT,
)
_NEW_KEY = obj(
    ("account_id", "name"),
    account_id=TEXT,
    name=TEXT,
    scopes=array(QUERY_TEXT),
    models=array(QUERY_TEXT),
    providers=array(ref("Provider")),
    quotas=array(ref("Quota")),
    on_insufficient={"enum": ["refuse", "clamp", None]},
    expires_at={"anyOf": [EXPIRY, {"type": "null"}]},
)
_CREDIT = obj(
    ("amount_micros", "idempotency_key"),
    amount_micros=micros(1),
    idempotency_key=TEXT,
    reason=TEXT,
    grant=GRANT_SPEC,
)
_ADJUSTMENT = obj(
    ("amount_micros", "idempotency_key", "reason"),
    amount_micros=micros(-MAX_EXACT, description="negative: money out") | {"not": {"const": 0}},
    idempotency_key=TEXT,
    reason=TEXT,
)
_CREDITED = obj(
    ("entry_id", "account_id", "amount_micros", "balance_micros"),
    entry_id=INT,
    account_id=STR,
    amount_micros=MICROS,
    balance_micros=MICROS,
    idempotent_replay=BOOL,
)
_WINDOWS = obj(("windows",), windows=array(ref("Window")))


ROOT = op("Where the API, its docs and the dashboard are", "health", OPEN, ok=JSON_OBJECT)
HEALTHZ = op("The process runs", "health", OPEN, ok=JSON_OBJECT)
KEYS = op(
    "The public keys that verify Meterway's signatures (JWKS)", "health", OPEN, ok=JSON_OBJECT
)
READYZ = op(
    "The gateway can meter",
    "health",
    OPEN,
    ok=JSON_OBJECT,
    extra={
        "503": {
            "description": "Not ready",
            "content": {"application/json": {"schema": JSON_OBJECT}},
        }
    },
)
METRICS = {
    "summary": "Prometheus metrics (on ADMIN_LISTEN_ADDR, or with the admin key)",
    "tags": ["health"],
    "security": ADMIN,
    "responses": {
        "200": {
            "description": "text exposition format",
            "content": {"text/plain": {"schema": STR}},
        },
        "404": {
            "description": "Not served here without the operator's key",
            "content": {"application/json": {"schema": ref("Error")}},
        },
    },
}
OPENAPI_JSON = op("This document", "health", OPEN, ok=JSON_OBJECT)
PAGE = _page("This document as a browsable page (Swagger UI)")
ASSET = _page("The browsable page's scripts and styles", path_param("asset"))


_ACCOUNT = ref("Account")
CREATE_ACCOUNT = op(
    "Create an account (idempotent by key)",
    "admin",
    ADMIN,
    ok=_ACCOUNT,
    status="201",
    body=_NEW_ACCOUNT,
    extra={
        "200": {
            "description": "The account this idempotency_key already created",
            "content": {"application/json": {"schema": _ACCOUNT}},
        }
    },
)
GET_ACCOUNT = op("An account", "admin", ADMIN, ok=_ACCOUNT, params=(_ACCOUNT_ID,))
SYSTEM = op(
    "The gateway's state: readiness, backlog, dead letters, exporters",
    "admin",
    ADMIN,
    ok=JSON_OBJECT,
)
ADD_CREDIT = op(
    "Credit an account (idempotent by key)",
    "admin",
    ADMIN,
    ok=_CREDITED,
    status="201",
    params=(_ACCOUNT_ID,),
    body=_CREDIT,
    extra={
        "200": {
            "description": "replay of an earlier credit",
            "content": {"application/json": {"schema": _CREDITED}},
        }
    },
)
ADD_ADJUSTMENT = op(
    "Adjust a balance by hand, with a reason (idempotent by key; money out may take"
    " at most what the account has)",
    "admin",
    ADMIN,
    ok=_CREDITED,
    status="201",
    params=(_ACCOUNT_ID,),
    body=_ADJUSTMENT,
    extra={
        "200": {
            "description": "replay of an earlier adjustment",
            "content": {"application/json": {"schema": _CREDITED}},
        }
    },
)
ADD_REFUND = op(
    "Refund (part of) a top-up through its provider, booked at once (idempotent by key)",
    "admin",
    ADMIN,
    ok=obj(
        ("id", "payment_id", "amount_micros"),
        id=STR,
        payment_id=STR,
        amount_micros=MICROS,
        idempotent_replay=BOOL,
    ),
    status="201",
    params=(_ACCOUNT_ID, path_param("payment_id")),
    body=obj(
        ("amount_micros", "idempotency_key"),
        amount_micros=micros(CENT, multipleOf=CENT, description="whole cents, at most the payment"),
        idempotency_key=TEXT,
    ),
)
SET_PLAN = op(
    "Change plan, mode, billing flag",
    "admin",
    ADMIN,
    ok=_ACCOUNT,
    params=(_ACCOUNT_ID,),
    body=obj(
        ("plan",),
        plan=ref("PlanName"),
        mode={"enum": ["prepaid", "postpaid"]},
        billing_ready=BOOL,
        idempotency_key=TEXT,
    ),
)
SET_CREDIT_LINE = op(
    "Set the account's credit line (0 removes it): its balance may go down to minus it",
    "admin",
    ADMIN,
    ok=_ACCOUNT,
    params=(_ACCOUNT_ID,),
    body=obj(("credit_line_micros",), credit_line_micros=whole(0, MAX_CREDIT_LINE)),
)
UNCOLLECTED = op(
    "The newest 100 parts of the account's debits it could not pay (receivables)",
    "admin",
    ADMIN,
    ok=obj(
        ("object", "data"),
        object={"const": "list"},
        data=array(
            obj(
                ("request_id", "amount_micros", "why", "occurred_at"),
                request_id=STR,
                key_id={"type": ["string", "null"]},
                model={"type": ["string", "null"]},
                provider={"type": ["string", "null"]},
                amount_micros=MICROS,
                why={"enum": ["balance", "window"]},
                occurred_at=TIME,
            )
        ),
    ),
    params=(_ACCOUNT_ID,),
)
ACCOUNT_USAGE = op("Current quota windows", "admin", ADMIN, ok=_WINDOWS, params=(_ACCOUNT_ID,))
LEDGER_PAGE = op(
    "Ledger entries, newest first, of the filters given",
    "admin",
    ADMIN,
    ok=ref("LedgerPage"),
    params=(_ACCOUNT_ID, *PAGE_PARAMS, *LEDGER_PARAMS),
)
CREATE_KEY = op("Issue a key", "admin", ADMIN, ok=ref("ApiKey"), status="201", body=_NEW_KEY)
REVOKE_KEY = op("Revoke a key", "admin", ADMIN, ok=ref("ApiKey"), params=(_KEY_ID,))
PUT_KEY_QUOTAS = op(
    "Replace a key's quotas",
    "admin",
    ADMIN,
    ok=ref("ApiKey"),
    params=(_KEY_ID,),
    body=obj(("quotas",), quotas=array(ref("Quota"))),
)
KEY_USAGE = op("A key's quota windows", "admin", ADMIN, ok=_WINDOWS, params=(_KEY_ID,))
