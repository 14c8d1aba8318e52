"""OpenAPI paths of the proxy, the operator API, health, metrics and the document itself."""

from __future__ import annotations

from typing import Any

from billing.money import MAX_CREDIT_LINE_MICROS as MAX_CREDIT_LINE
from billing.money import MAX_EXACT
from billing.plans import MAX_MARKUP_BPS
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
from gateway.services.refunds import CENT

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


_CALL = {
    "type": "object",
    "required": ["model"],
    "properties": {"model": STR, "stream": BOOL, "max_tokens": INT},
    "description": "The provider's own request body (OpenAI or Anthropic wire format).",
}


def _proxy(summary: str) -> dict[str, Any]:
    return op(summary, "proxy", PROXY, ok=JSON_OBJECT, body=_CALL)


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


def proxy_paths() -> dict[str, Any]:
    return {
        "/v1/chat/completions": {"post": _proxy("OpenAI chat completion, metered")},
        "/v1/completions": {"post": _proxy("OpenAI legacy completion, metered")},
        "/v1/embeddings": {"post": _proxy("OpenAI embeddings, metered")},
        "/v1/moderations": {"post": _proxy("OpenAI moderations, counted (free unless priced)")},
        "/v1/messages": {"post": _proxy("Anthropic messages, metered")},
        "/v1/images/generations": {
            "post": _proxy("OpenAI image generation, per image (DALL-E) or in tokens")
        },
        "/v1/images/edits": {"post": _proxy("OpenAI image edits (multipart upload), metered")},
        "/v1/audio/transcriptions": {
            "post": _proxy("OpenAI transcription (multipart upload), per second or in tokens")
        },
        "/v1/audio/translations": {
            "post": _proxy("OpenAI translation to English (multipart upload), per second")
        },
        "/v1/audio/speech": {
            "post": _proxy("OpenAI text to speech, per character or in tokens; audio relayed")
        },
        "/v1/images/variations": {
            "post": _proxy("OpenAI image variations (multipart upload, DALL-E 2), metered")
        },
        "/v1/models": {"get": op("Models this key may use", "proxy", PROXY, ok=JSON_OBJECT)},
        **azure_paths(),
        **gemini_paths(),
    }


_MODEL = path_param("model")


def gemini_paths() -> dict[str, Any]:
    """Gemini's own form, for the google-genai SDK by base URL (the key as x-goog-api-key)."""
    what = {
        "generateContent": "Gemini generateContent, metered",
        "streamGenerateContent": "Gemini streamGenerateContent (SSE with alt=sse), metered",
        "countTokens": "Gemini countTokens: the provider's count, not billed",
    }
    return {
        f"/{version}/models/{{model}}:{method}": {
            "post": op(summary, "proxy", PROXY, ok=JSON_OBJECT, body=_CALL, params=(_MODEL,))
        }
        for version in ("v1", "v1beta")
        for method, summary in what.items()
    }


_DEPLOYMENT = path_param("deployment")


def azure_paths() -> dict[str, Any]:
    """Azure OpenAI's forms of the same routes, for `openai.AzureOpenAI` clients (the key
    as `api-key`): the dated API names the model by its deployment, the v1 API in the body."""
    dated = {
        f"/openai/deployments/{{deployment}}/{name}": {
            "post": op(
                f"Azure OpenAI {name}, the model named by the deployment, metered",
                "proxy",
                PROXY,
                ok=JSON_OBJECT,
                body=_CALL,
                params=(_DEPLOYMENT,),
            )
        }
        for name in ("chat/completions", "completions", "embeddings")
    }
    v1 = {
        f"/openai/v1/{name}": {"post": _proxy(f"Azure OpenAI v1 API {name}, metered")}
        for name in ("chat/completions", "completions", "embeddings", "responses")
    }
    return {**dated, **v1, "/openai/responses": {"post": _proxy("Azure OpenAI responses")}}


def ops_paths() -> dict[str, Any]:
    return {
        "/": {
            "get": op(
                "Where the API, its docs and the dashboard are", "health", OPEN, ok=JSON_OBJECT
            )
        },
        "/healthz": {"get": op("The process runs", "health", OPEN, ok=JSON_OBJECT)},
        "/readyz": {
            "get": op(
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
        },
        "/metrics": {
            "get": {
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
        },
        "/openapi.json": {"get": op("This document", "health", OPEN, ok=JSON_OBJECT)},
        "/docs/api": {"get": _page("This document as a browsable page (Swagger UI)")},
        "/docs/api/{asset}": {
            "get": _page("The browsable page's scripts and styles", path_param("asset"))
        },
    }


def admin_paths() -> dict[str, Any]:
    account = ref("Account")
    return {
        "/admin/v1/accounts": {
            "post": op(
                "Create an account (idempotent by key)",
                "admin",
                ADMIN,
                ok=account,
                status="201",
                body=_NEW_ACCOUNT,
                extra={
                    "200": {
                        "description": "The account this idempotency_key already created",
                        "content": {"application/json": {"schema": account}},
                    }
                },
            ),
        },
        "/admin/v1/accounts/{account_id}": {
            "get": op("An account", "admin", ADMIN, ok=account, params=(_ACCOUNT_ID,)),
        },
        "/admin/v1/system": {
            "get": op(
                "The gateway's state: readiness, backlog, dead letters, exporters",
                "admin",
                ADMIN,
                ok=JSON_OBJECT,
            ),
        },
        "/admin/v1/accounts/{account_id}/credits": {
            "post": op(
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
        },
        "/admin/v1/accounts/{account_id}/adjustments": {
            "post": op(
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
        },
        "/admin/v1/accounts/{account_id}/payments/{payment_id}/refunds": {
            "post": op(
                "Refund (part of) a top-up through its provider, booked at once (idempotent by"
                " key)",
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
                    amount_micros=micros(
                        CENT, multipleOf=CENT, description="whole cents, at most the payment"
                    ),
                    idempotency_key=TEXT,
                ),
            )
        },
        "/admin/v1/accounts/{account_id}/plan": {
            "put": op(
                "Change plan, mode, billing flag",
                "admin",
                ADMIN,
                ok=account,
                params=(_ACCOUNT_ID,),
                body=obj(
                    ("plan",),
                    plan=ref("PlanName"),
                    mode={"enum": ["prepaid", "postpaid"]},
                    billing_ready=BOOL,
                    idempotency_key=TEXT,
                ),
            )
        },
        "/admin/v1/accounts/{account_id}/markup": {
            "put": op(
                "Set or clear the account's own markup over provider cost",
                "admin",
                ADMIN,
                ok=account,
                params=(_ACCOUNT_ID,),
                body=obj(
                    ("markup_bps",),
                    markup_bps={"anyOf": [whole(0, MAX_MARKUP_BPS), {"type": "null"}]},
                ),
            )
        },
        "/admin/v1/accounts/{account_id}/credit-line": {
            "put": op(
                "Set the account's credit line (0 removes it): its balance may go down to minus it",
                "admin",
                ADMIN,
                ok=account,
                params=(_ACCOUNT_ID,),
                body=obj(
                    ("credit_line_micros",),
                    credit_line_micros=whole(0, MAX_CREDIT_LINE),
                ),
            )
        },
        "/admin/v1/accounts/{account_id}/uncollected": {
            "get": op(
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
        },
        "/admin/v1/accounts/{account_id}/usage": {
            "get": op("Current quota windows", "admin", ADMIN, ok=_WINDOWS, params=(_ACCOUNT_ID,))
        },
        "/admin/v1/accounts/{account_id}/ledger": {
            "get": op(
                "Ledger entries, newest first, of the filters given",
                "admin",
                ADMIN,
                ok=ref("LedgerPage"),
                params=(_ACCOUNT_ID, *PAGE_PARAMS, *LEDGER_PARAMS),
            )
        },
        "/admin/v1/keys": {
            "post": op("Issue a key", "admin", ADMIN, ok=ref("ApiKey"), status="201", body=_NEW_KEY)
        },
        "/admin/v1/keys/{key_id}": {
            "delete": op("Revoke a key", "admin", ADMIN, ok=ref("ApiKey"), params=(_KEY_ID,))
        },
        "/admin/v1/keys/{key_id}/quotas": {
            "put": op(
                "Replace a key's quotas",
                "admin",
                ADMIN,
                ok=ref("ApiKey"),
                params=(_KEY_ID,),
                body=obj(("quotas",), quotas=array(ref("Quota"))),
            )
        },
        "/admin/v1/keys/{key_id}/usage": {
            "get": op("A key's quota windows", "admin", ADMIN, ok=_WINDOWS, params=(_KEY_ID,))
        },
    }
