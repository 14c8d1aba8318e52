"""OpenAPI 3.1 building blocks: the shared schemas and small helpers for writing operations.

Every operation answers errors with the one error body (`Error`), so each gets a `default`
response with it; money is always an integer number of USD micros.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]
Security = list[dict[str, list[str]]]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(kind: str) -> Schema:
    return {"type": [kind, "null"]}


def obj(required: tuple[str, ...] = (), **props: Schema) -> Schema:
    return {"type": "object", "required": list(required), "properties": props}


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
BOOL: Schema = {"type": "boolean"}
MICROS: Schema = {"type": "integer", "description": "USD micros (1 USD = 1,000,000)"}
TIME = nullable("string")
JSON_OBJECT: Schema = {"type": "object"}
ERROR_RESPONSE = {
    "description": "An error, as every route answers it (OpenAI-style; Anthropic-style on "
    "/v1/messages)",
    "content": {"application/json": {"schema": ref("Error")}},
}


def json_ok(schema: Schema, description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def op(
    summary: str,
    tag: str,
    security: Security,
    *,
    ok: Schema,
    status: str = "200",
    params: tuple[Schema, ...] = (),
    body: Schema | None = None,
    body_required: bool = True,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One operation: its success answer, the shared error answer, parameters and body."""
    responses: dict[str, Any] = {status: json_ok(ok), "default": ERROR_RESPONSE, **(extra or {})}
    out: dict[str, Any] = {
        "summary": summary,
        "tags": [tag],
        "security": security,
        "responses": responses,
    }
    if params:
        out["parameters"] = list(params)
    if body is not None:
        out["requestBody"] = {
            "required": body_required,
            "content": {"application/json": {"schema": body}},
        }
    return out


def path_param(name: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": STR}


def query(name: str, schema: Schema, description: str = "") -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


PAGE_PARAMS = (
    query("limit", {"type": "integer", "minimum": 1, "maximum": 500}),
    query("before", {"type": "integer", "minimum": 1}, "last entry id of the previous page"),
)
QUOTA = obj(
    ("window", "metric", "limit"),
    window={"enum": ["minute", "hour", "day", "week", "month", "total"]},
    metric={"enum": ["requests", "input_tokens", "output_tokens", "tokens", "spend_micros"]},
    limit=INT,
)
WINDOW = obj(
    ("window", "metric", "limit", "used", "resets_at"),
    scope={"enum": ["account", "key"]},
    window=STR,
    metric=STR,
    limit=INT,
    used=INT,
    remaining=INT,
    resets_at=TIME,
)
ACCOUNT = obj(
    ("id", "object", "name", "plan", "mode", "balance_micros", "held_micros"),
    id=STR,
    object={"const": "account"},
    name=STR,
    plan=STR,
    mode={"enum": ["prepaid", "postpaid"]},
    billing_ready=BOOL,
    balance_micros=nullable("integer"),
    held_micros=nullable("integer"),
    available_micros=nullable("integer"),
    ledger_balance_micros=MICROS,
    external_id=nullable("string"),
    markup_bps={
        "type": ["integer", "null"],
        "description": "the account's own markup over provider cost, in basis points;"
        " null follows its plan's",
    },
    created_at=TIME,
)
API_KEY = obj(
    ("id", "object", "account_id", "name", "prefix", "scopes", "models", "quotas"),
    id=STR,
    object={"const": "api_key"},
    account_id=STR,
    name=STR,
    prefix=STR,
    scopes=array(STR),
    models=array(STR),
    providers=array(STR),
    quotas=array(QUOTA),
    on_insufficient=nullable("string"),
    expires_at=TIME,
    revoked=BOOL,
    revoked_at=TIME,
    created_at=TIME,
)
LEDGER_ENTRY = obj(
    ("id", "kind", "amount_micros"),
    id=INT,
    kind={"enum": ["credit", "debit", "void", "adjustment"]},
    amount_micros=MICROS,
    request_id=nullable("string"),
    idempotency_key=nullable("string"),
    key_id=nullable("string"),
    model=nullable("string"),
    provider=nullable("string"),
    input_tokens=INT,
    cached_input_tokens=INT,
    cache_write_tokens=INT,
    output_tokens=INT,
    reasoning_tokens=INT,
    usage_source=nullable("string"),
    reason=nullable("string"),
    occurred_at=TIME,
    meter=nullable("string"),
    quantity=nullable("integer"),
    service=nullable("string"),
    metadata=nullable("object"),
    price_version=nullable("string"),
    provider_cost_micros=nullable("integer"),
    charged_micros=nullable("integer"),
    usage_detail=nullable("object"),
)
USAGE_SUMS = obj(
    ("requests", "spend_micros"),
    requests=INT,
    input_tokens=INT,
    cached_input_tokens=INT,
    cache_write_tokens=INT,
    output_tokens=INT,
    reasoning_tokens=INT,
    spend_micros=MICROS,
    provider_cost_micros={**MICROS, "description": "the provider's cost of spend_micros"},
    gross_margin_micros={**MICROS, "description": "spend_micros - provider_cost_micros"},
)
ERROR = obj(
    ("error",),
    error=obj(
        ("message", "type"),
        message=STR,
        type=STR,
        code=nullable("string"),
        param=nullable("string"),
    ),
)
ERROR["description"] = "OpenAI-style error body; /v1/messages answers Anthropic's {type, error}."

SCHEMAS: dict[str, Schema] = {
    "Error": ERROR,
    "Quota": QUOTA,
    "Window": WINDOW,
    "Account": ACCOUNT,
    "AccountOverview": {"allOf": [ref("Account"), obj(("windows",), windows=array(ref("Window")))]},
    "ApiKey": API_KEY,
    "ApiKeyUse": {
        "allOf": [
            ref("ApiKey"),
            obj(
                ("last_used_at", "spend_this_month_micros"),
                rotated_from=nullable("string"),
                last_used_at=TIME,
                spend_this_month_micros=MICROS,
            ),
        ]
    },
    "NewApiKey": {
        "allOf": [
            ref("ApiKeyUse"),
            obj(("key",), key={"type": "string", "description": "shown once"}),
        ]
    },
    "LedgerEntry": LEDGER_ENTRY,
    "LedgerPage": obj(
        ("data", "has_more"),
        data=array(ref("LedgerEntry")),
        has_more=BOOL,
        next_before=nullable("integer"),
        as_of=STR,
    ),
    "UsageReport": obj(
        ("data", "totals", "group_by"),
        object={"const": "usage_report"},
        account_id=STR,
        group_by={"enum": ["day", "model", "key"]},
        data=array({"allOf": [ref("UsageSums"), JSON_OBJECT]}),
        totals=ref("UsageSums"),
    ),
    "UsageSums": USAGE_SUMS,
    "KeyList": obj(("data",), object={"const": "list"}, data=array(ref("ApiKeyUse"))),
}
