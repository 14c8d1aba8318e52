"""The API's named component schemas (`#/components/schemas/...`): one definition per
object the operations answer or take, each built from the blocks in schemas.py and, where a
handler checks a rule, from the handler's own constant."""

from __future__ import annotations

from billing.money.credit_grants import DEFAULT_PRIORITY, PAID
from billing.money.end_users import END_USER_ID, EXPIRING_WINDOWS
from billing.money.quotas import MAX_LIMIT, METER_METRIC, METRICS, WINDOWS
from billing.usage.tags import MAX_TAGS, NAME_PATTERN, TAG_GROUP_PATTERN, VALUE_MAX, VALUE_PATTERN
from gateway.http.bodies import (
    GRANT_KIND,
    GRANT_PRIORITY_MAX,
)
from gateway.http.openapi.schemas import (
    BOOL,
    EXPIRY,
    INT,
    JSON_OBJECT,
    MICROS,
    NEXT_STEP,
    STR,
    TEXT,
    TIME,
    Schema,
    anchored,
    array,
    nullable,
    obj,
    ref,
    whole,
)
from gateway.http.shared.usage.reports import GROUPS
from gateway.stores.records import LEDGER_KINDS

# billing.money.quotas.parse_quota's rule; a list repeats no (window, metric) pair (not
# stated here).
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
LIMIT = obj(
    ("level", "name", "window", "metric", "limit", "used", "resets_at", "blocks"),
    level={"enum": ["end_user", "key", "team", "account"]},
    name={"type": "string", "description": "the key's, the team's or the account's name"},
    id=STR,
    window=STR,
    metric=STR,
    limit=INT,
    used={"type": ["integer", "null"], "description": "null: an end-user default, per end user"},
    remaining=nullable("integer"),
    resets_at=TIME,
    blocks={"type": "boolean", "description": "full: calls it applies to are refused now"},
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
        "description": "the account's own markup over provider cost in force, in basis"
        " points; null follows its plan's",
    },
    next_markup={
        "anyOf": [
            obj(
                ("markup_bps", "effective_at", "price_change"),
                markup_bps={"type": ["integer", "null"]},
                effective_at=TIME,
                price_change=INT,
            ),
            {"type": "null"},
        ],
        "description": "an approved markup change not in force yet (a price change)",
    },
    credit_line_micros={
        "type": "integer",
        "description": "how far below zero the account's balance may go (0: not at all)",
    },
    created_at=TIME,
)
# A usage report's group: a dimension, or a tag's values (`tag:cost_center`).
GROUP_BY: Schema = {
    "anyOf": [{"enum": list(GROUPS)}, {"type": "string", "pattern": TAG_GROUP_PATTERN}]
}
# billing/usage/tags.py's bounds.
TAGS: Schema = {
    "type": "object",
    "maxProperties": MAX_TAGS,
    "propertyNames": {"pattern": NAME_PATTERN},
    "additionalProperties": {
        "type": "string",
        "minLength": 1,
        "maxLength": VALUE_MAX,
        "pattern": VALUE_PATTERN,
    },
}
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
    tags=TAGS,
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
    gross_margin_micros={
        **nullable("integer"),
        "description": "charged less the provider's cost (operator surfaces only)",
    },
    usage_detail=nullable("object"),
    end_user=nullable("string"),
    tags={**TAGS, "type": ["object", "null"], "description": "its key's tags when it settled"},
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
    tags=TAGS,
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
            obj(
                ("windows", "limits", "next"),
                windows=array(ref("Window")),
                limits=array(LIMIT),
                next=ref("NextStep"),
            ),
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
        group_by=GROUP_BY,
        data=array({"allOf": [ref("UsageSums"), JSON_OBJECT]}),
        totals=ref("UsageSums"),
    ),
    "UsageSums": USAGE_SUMS,
    "KeyList": obj(("data",), object={"const": "list"}, data=array(ref("ApiKeyUse"))),
}
