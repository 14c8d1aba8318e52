"""OpenAPI paths of the audit log (http/shared/proof/audit_log.py): the owner's and operator's
reads."""

from __future__ import annotations

from typing import Any

from billing.proof.audit_words import ACTOR_KINDS, KINDS
from gateway.http.fields import MAX_AUDIT_PAGE as MAX_PAGE
from gateway.http.openapi.paths.operator import ADMIN, USER
from gateway.http.openapi.schemas import QUERY_TEXT, STR, array, obj, op, query

_NULL_TEXT = {"type": ["string", "null"]}
_STATE = {"type": ["object", "null"]}
RECORD = obj(
    ("id", "occurred_at", "actor_kind", "actor_id", "action", "target_kind", "target_id"),
    object={"const": "audit_record"},
    id={"type": "integer"},
    occurred_at={"type": "string", "format": "date-time"},
    account_id=_NULL_TEXT,
    actor_kind={"enum": list(ACTOR_KINDS)},
    actor_id=STR,
    actor_via=_NULL_TEXT,
    action=STR,
    target_kind=STR,
    target_id=STR,
    before=_STATE,
    after=_STATE,
    request_id=_NULL_TEXT,
    client_address=_NULL_TEXT,
    sentence={"type": "string", "description": "the record in words, dollars and names"},
)
PAGE = obj(
    ("object", "data", "has_more"),
    object={"const": "list"},
    data=array(RECORD),
    has_more={"type": "boolean"},
    next_before={"type": ["integer", "null"]},
)
_TIME = {"type": "string", "description": "RFC 3339 time or a day (YYYY-MM-DD)"}
PARAMS = (
    query("action", QUERY_TEXT),
    query("kind", {"enum": list(KINDS)}, "one kind of action"),
    query("actor", QUERY_TEXT, "a member's e-mail or an actor's id"),
    query("target_kind", QUERY_TEXT),
    query("target_id", QUERY_TEXT),
    query("since", _TIME),
    query("until", _TIME),
    query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}),
    query("before", {"type": "integer", "minimum": 1}, "next_before of the previous page"),
    query("format", {"enum": ["json", "csv", "jsonl"]}, "csv or jsonl: every matching record"),
)


def _exports(operation: dict[str, Any]) -> dict[str, Any]:
    """`format=csv` and `format=jsonl` answer every matching record as a file."""
    content = operation["responses"]["200"]["content"]
    content["text/csv"] = {"schema": STR}
    content["application/x-ndjson"] = {"schema": STR}
    return operation


ACCOUNT_AUDIT = _exports(
    op(
        "Your organization's audit log, newest first (owners only)",
        "account",
        USER,
        ok=PAGE,
        params=PARAMS,
    )
)
ADMIN_AUDIT = _exports(
    op(
        "Every account's audit log, newest first",
        "admin",
        ADMIN,
        ok=PAGE,
        params=(query("account_id", QUERY_TEXT), *PARAMS),
    )
)
