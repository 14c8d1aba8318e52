"""OpenAPI 3.1 building blocks: the shared schemas and small helpers for writing operations.

Every operation answers errors with the one error body (`Error`), so each gets a `default`
response with it; money is always an integer number of USD micros.
"""

from __future__ import annotations

from typing import Any

from billing.credit_grants import DEFAULT_PRIORITY, PAID
from billing.end_users import END_USER_ID, EXPIRING_WINDOWS
from billing.money import MAX_EXACT
from billing.quotas import MAX_LIMIT, METER_METRIC, METRICS, WINDOWS
from gateway.http.bodies import (
    EMAIL_PATTERN,
    EXPIRY_PATTERN,
    GRANT_KIND,
    GRANT_PRIORITY_MAX,
    NO_NUL_PATTERN,
    TEXT_MAX,
    TEXT_PATTERN,
)
from gateway.http.reports import GROUPS, MAX_PAGE
from gateway.stores.records import LEDGER_KINDS

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
# billing.next_step.NextStep.json(): the account's one next step, the same on every surface.
NEXT_STEP: Schema = obj(
    ("action", "blocked", "reason", "url", "command", "api", "plan", "resets_at"),
    action={"enum": ["none", "top_up", "setup", "fix_payment", "upgrade", "wait", "contact_sales"]},
    blocked={"type": "boolean", "description": "requests are refused now"},
    reason=STR,
    url={"type": "string", "description": "a page to open (GET)"},
    command={"type": "string", "description": "the meterway command that does it"},
    api={"type": ["object", "null"], "description": "the route a program calls: method, path"},
    plan={"type": ["string", "null"]},
    resets_at={"type": ["string", "null"], "format": "date-time"},
)
MICROS: Schema = {"type": "integer", "description": "USD micros (1 USD = 1,000,000)"}
# What bodies.text_field takes: names, reasons, idempotency keys, e-mail addresses.
TEXT: Schema = {"type": "string", "minLength": 1, "maxLength": TEXT_MAX, "pattern": TEXT_PATTERN}
EMAIL: Schema = {**TEXT, "pattern": EMAIL_PATTERN}
EXPIRY: Schema = {"type": "string", "format": "date-time", "pattern": EXPIRY_PATTERN}
# A query value the handler reads as text: anything but NUL (refused, naming the parameter).
QUERY_TEXT: Schema = {"type": "string", "pattern": NO_NUL_PATTERN}


def whole(minimum: int = 0, maximum: int = MAX_EXACT, **extra: Any) -> Schema:
    """An integer within bounds; the default ones are what JSON numbers carry exactly."""
    return {"type": "integer", "minimum": minimum, "maximum": maximum, **extra}


def micros(minimum: int = 0, maximum: int = MAX_EXACT, **extra: Any) -> Schema:
    """An amount a handler takes, within the bounds it checks."""
    return whole(minimum, maximum, **{**MICROS, **extra, "type": "integer"})


def anchored(pattern: str) -> str:
    """A compiled rule's pattern (used with fullmatch) as a JSON Schema pattern."""
    return f"^(?:{pattern})$"


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
    query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}),
    query("before", {"type": "integer", "minimum": 1}, "last entry id of the previous page"),
)
_DAY: Schema = {"type": "string", "format": "date"}
# GET .../ledger's filters (reports.ledger_response); each may be left out.
LEDGER_PARAMS = (
    query("kind", {"enum": list(LEDGER_KINDS)}, "entries of this kind"),
    query("model", QUERY_TEXT, "entries of this model"),
    query("key_id", QUERY_TEXT, "entries of this key of the account (another's: 400)"),
    query("team_id", QUERY_TEXT, "entries of the keys now in this team of the account"),
    query("from", _DAY, "entries that occurred on or after this UTC day"),
    query("to", _DAY, "entries that occurred before this UTC day"),
)
# billing.quotas.parse_quota's rule; a list repeats no (window, metric) pair (not stated here).
_METRIC: Schema = {
    "anyOf": [{"enum": list(METRICS)}, {"type": "string", "pattern": METER_METRIC.pattern}]
}
QUOTA = obj(
    ("window", "metric", "limit"),
    window={"enum": list(WINDOWS)},
    metric=_METRIC,
    limit=whole(0, MAX_LIMIT),
)
END_USER_QUOTA = {
    **QUOTA,
    "properties": {**QUOTA["properties"], "window": {"enum": list(EXPIRING_WINDOWS)}},
}
WINDOW = obj(
    ("window", "metric", "limit", "used", "resets_at"),
    scope={"enum": ["account", "key", "team", "end_user"]},
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
    kind={"enum": list(LEDGER_KINDS)},
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
    end_user=nullable("string"),
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
    quantity={**INT, "description": "units of a meter"},
    images={**INT, "description": "images made by models priced per image"},
    audio_seconds={**INT, "description": "seconds of audio billed per minute (whisper-1)"},
    characters={**INT, "description": "characters read aloud, billed per character"},
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

CREDIT_GRANT = obj(
    ("id", "kind", "amount_micros", "remaining_micros", "priority", "status"),
    id=INT,
    object={"const": "credit_grant"},
    account_id=STR,
    kind=STR,
    amount_micros=MICROS,
    remaining_micros={**MICROS, "description": "as of the last allocation (within seconds)"},
    priority=INT,
    expires_at=TIME,
    revoked_at=TIME,
    closed_at=TIME,
    status={"enum": ["active", "used", "expired", "revoked"]},
    reason=nullable("string"),
    created_at=STR,
)
GRANT_SPEC = obj(
    (),
    kind={"type": "string", "pattern": anchored(GRANT_KIND.pattern), "default": PAID},
    expires_at={**EXPIRY, "description": "in the future"},
    priority=whole(0, GRANT_PRIORITY_MAX, default=DEFAULT_PRIORITY),
)

END_USER_BUDGET = obj(
    ("object", "account_id", "applies_to", "quotas"),
    object={"const": "end_user_budget"},
    account_id=STR,
    applies_to={"enum": ["organization", "key", "end_user"]},
    key_id=nullable("string"),
    end_user=nullable("string"),
    quotas=array(ref("Quota")),
    updated_at=STR,
    deleted={"const": True},
)
END_USER_BUDGET_SPEC = obj(
    ("quotas",),
    quotas={**array(ref("EndUserQuota")), "description": "windows minute to month; [] removes it"},
    key_id={
        "type": "string",
        "minLength": 1,
        "description": "this key's default for its end users",
    },
    end_user={
        "type": "string",
        "pattern": anchored(END_USER_ID.pattern),
        "description": "this end user's own budget (wins over the defaults)",
    },
)
END_USER_BUDGET_SPEC["not"] = {"required": ["key_id", "end_user"]}  # one or the other, or neither

TEAM = obj(
    ("id", "object", "account_id", "name", "quotas"),
    id=STR,
    object={"const": "team"},
    account_id=STR,
    name=STR,
    quotas=array(ref("Quota")),
    keys={"type": "integer", "description": "its live keys (in lists)"},
    created_at=STR,
)
NEW_TEAM = obj(("name",), name=TEXT, quotas=array(ref("Quota")))
KEY_TEAM = obj(("team_id",), team_id={"type": ["string", "null"]})
KEY_TEAM_SET = obj(
    ("object", "key_id", "team_id"),
    object={"const": "api_key_team"},
    key_id=STR,
    team_id={"type": ["string", "null"]},
)

SCHEMAS: dict[str, Schema] = {
    "Team": TEAM,
    "TeamList": obj(("data",), object={"const": "list"}, data=array(ref("Team"))),
    "EndUserBudget": END_USER_BUDGET,
    "EndUserBudgetList": obj(("data",), object={"const": "list"}, data=array(ref("EndUserBudget"))),
    "CreditGrant": CREDIT_GRANT,
    "GrantList": obj(("data",), object={"const": "list"}, data=array(ref("CreditGrant"))),
    "Error": ERROR,
    "Quota": QUOTA,
    "EndUserQuota": END_USER_QUOTA,
    "Window": WINDOW,
    "Account": ACCOUNT,
    "AccountOverview": {
        "allOf": [
            ref("Account"),
            obj(("windows", "next"), windows=array(ref("Window")), next=ref("NextStep")),
        ]
    },
    "NextStep": NEXT_STEP,
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
    "RequestCost": {
        "allOf": [
            ref("LedgerEntry"),
            obj(
                ("object", "entries", "arithmetic"),
                object={"const": "request_cost"},
                entries=array(ref("LedgerEntry")),
                arithmetic={
                    "type": ["array", "null"],
                    "items": STR,
                    "description": "the debit re-derived from its price card, line by line "
                    "(as `meterway prices explain` prints it); null without a price version",
                },
            ),
        ]
    },
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
        group_by={"enum": list(GROUPS)},
        data=array({"allOf": [ref("UsageSums"), JSON_OBJECT]}),
        totals=ref("UsageSums"),
    ),
    "UsageSums": USAGE_SUMS,
    "KeyList": obj(("data",), object={"const": "list"}, data=array(ref("ApiKeyUse"))),
}
