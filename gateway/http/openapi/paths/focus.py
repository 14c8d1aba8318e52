"""OpenAPI paths of FOCUS exports (gateway/http/shared/usage/focus.py)."""

from __future__ import annotations

from typing import Any

from billing.contracts.statements import MONTH_PATTERN
from gateway.http.openapi.paths.operator import ADMIN, USER
from gateway.http.openapi.schemas import STR, Schema, op, query

_MONTH = query("month", {"type": "string", "pattern": MONTH_PATTERN}, "YYYY-MM (UTC); this month")
_FORMAT = query("format", {"enum": ["csv", "parquet"]}, "csv (the default) or parquet")
_ACCOUNT = query("account_id", STR, "one account's rows; every account's without it")


def _export(summary: str, tag: str, security: Any, *params: Schema) -> dict[str, Any]:
    out = op(summary, tag, security, ok=STR, params=(_MONTH, _FORMAT, *params))
    out["responses"]["200"]["content"] = {
        "text/csv": {"schema": STR},
        "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
    }
    return out


ACCOUNT_FOCUS = _export("Your organization's month of the ledger in FOCUS 1.2", "account", USER)
ADMIN_FOCUS = _export(
    "A month of the ledger in FOCUS 1.2, every account's", "admin", ADMIN, _ACCOUNT
)
