"""OpenAPI 3.1 building blocks: primitive schemas, rules as schemas, and small helpers for
writing operations (the named component schemas are components.py's).

Every operation answers errors with the one error body (`Error`), so each gets a `default`
response with it; money is always an integer number of USD micros.
"""

from __future__ import annotations

from typing import Any

from billing.money.micros import MAX_EXACT
from gateway.http.bodies import (
    EMAIL_PATTERN,
    EXPIRY_PATTERN,
    NO_NUL_PATTERN,
    TEXT_MAX,
    TEXT_PATTERN,
)
from gateway.http.shared.usage.reports import MAX_PAGE
from gateway.stores.records import LEDGER_KINDS

Schema = dict[str, Any]
Security = list[dict[str, list[str]]]
Operation = dict[str, Any]  # an OpenAPI operation object


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
# billing.money.next_step.NextStep.json(): the account's one next step, the same on every surface.
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
    ask={
        "type": "array",
        "items": STR,
        "description": "present when the caller may not take the step: the roles to ask",
    },
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
