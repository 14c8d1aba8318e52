"""OpenAPI paths of monthly statements (gateway/http/shared/contracts/statements.py)."""

from __future__ import annotations

from typing import Any

from billing.contracts.statements import MONTH_PATTERN
from gateway.http.openapi.paths.operator import ADMIN, USER
from gateway.http.openapi.schemas import (
    BOOL,
    INT,
    MICROS,
    STR,
    Schema,
    array,
    obj,
    op,
    path_param,
    query,
)

_LINE = obj(
    ("key", "label", "entries", "requests", "amount_micros"),
    key=STR,
    label=STR,
    entries=INT,
    requests=INT,
    amount_micros=MICROS,
)
_SECTION = obj(
    ("total_micros", "entries", "lines"), total_micros=MICROS, entries=INT, lines=array(_LINE)
)
_USAGE = obj(
    ("total_micros", "entries", "requests", "by_model", "by_team", "by_kind"),
    total_micros=MICROS,
    entries=INT,
    requests=INT,
    by_model=array(_LINE),
    by_team=array(_LINE),
    by_kind=array(_LINE),
)
# The newest ledger checkpoint when the statement was issued (docs/guides/ledger.md).
CHECKPOINT: Schema = obj(
    ("seq", "head", "sealed_through_id", "sealed_at"),
    seq=INT,
    head=STR,
    sealed_through_id=INT,
    sealed_at=STR,
)
STATEMENT: Schema = obj(
    (
        "object", "account_id", "month", "from", "to", "currency", "opening_balance_micros",
        "closing_balance_micros", "usage", "credits", "expiries", "refunds", "adjustments",
        "other", "reconciled", "final", "complete", "missing_archives", "ledger_checkpoint",
    ),
    object={"const": "statement"},
    account_id=STR,
    month={"type": "string", "pattern": MONTH_PATTERN},
    **{"from": STR, "to": STR},
    currency={"const": "usd"},
    opening_balance_micros=MICROS,
    closing_balance_micros=MICROS,
    usage=_USAGE,
    credits=_SECTION,
    expiries=_SECTION,
    refunds=_SECTION,
    adjustments=_SECTION,
    other=_SECTION,
    reconciled=BOOL,
    final=BOOL,
    complete=BOOL,
    missing_archives=array(STR),
    ledger_checkpoint={"oneOf": [CHECKPOINT, {"type": "null"}]},
)  # fmt: skip
_MONTH = {**path_param("month"), "schema": {"type": "string", "pattern": MONTH_PATTERN}}
_FORMAT = query("format", {"enum": ["json", "csv"]}, "csv, or send Accept: text/csv")


def _statement(summary: str, tag: str, security: Any, *params: Schema) -> dict[str, Any]:
    out = op(summary, tag, security, ok=STATEMENT, params=(*params, _MONTH, _FORMAT))
    out["responses"]["200"]["content"]["text/csv"] = {"schema": STR}
    return out


ACCOUNT_STATEMENT = _statement(
    "Your organization's statement of a month (YYYY-MM, UTC)", "account", USER
)
ADMIN_STATEMENT = _statement(
    "An account's statement of a month (YYYY-MM, UTC)",
    "admin",
    ADMIN,
    path_param("account_id"),
)
