"""Schemathesis hooks for the "schema-valid request accepted" fuzz run (SCHEMATHESIS_HOOKS).

The run asserts that every request /openapi.json allows is accepted. A few rules cannot be
stated in the document, so requests breaking them are dropped here, each with its reason;
every other refusal of a schema-valid request fails the test.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import schemathesis
from schemathesis.hooks import HookContext


def _spelled_as_integers(value: Any) -> Any:
    """JSON Schema counts 1739.0 as an integer and schemathesis sends it so; the API takes
    integers spelled as integers only (money is never a float), which no schema can say."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_spelled_as_integers(v) for v in value]
    if isinstance(value, dict):
        return {k: _spelled_as_integers(v) for k, v in value.items()}
    return value


# The run credits one account many times; each credit at most 2^53 / 2^12 keeps their sum
# below 2^53 - 1 over far more requests than a run makes (test_proxy_api holds the bound).
MONEY_IN_PER_REQUEST = 2**41


@schemathesis.hook
def map_body(context: HookContext, body: Any) -> Any:
    return _spelled_as_integers(body)


def _repeats_a_pair(quotas: list[Any]) -> bool:
    pairs = [repr((q.get("window"), q.get("metric"))) for q in quotas if isinstance(q, dict)]
    return len(set(pairs)) != len(pairs)


@schemathesis.hook
def filter_body(context: HookContext, body: Any) -> bool:
    if not isinstance(body, dict):
        return True
    quotas = body.get("quotas")
    if isinstance(quotas, list) and _repeats_a_pair(quotas):
        return False  # a (window, metric) pair twice: a rule across items
    grant = body.get("grant")
    if isinstance(grant, dict) and "expires_at" in grant:
        return False  # a grant expires in the future: the clock's rule
    path = context.operation.path if context.operation else ""
    amount = body.get("amount_micros")
    if path.endswith("/adjustments") and isinstance(amount, int | float) and amount < 0:
        return False  # money out takes at most the balance: the account's state
    money_in = path.endswith(("/credits", "/adjustments"))
    if money_in and isinstance(amount, int | float) and amount > MONEY_IN_PER_REQUEST:
        return False  # money in: the balance stays within 2^53 - 1, the account's state
    cap = body.get("monthly_cap_micros")
    if isinstance(cap, int | float) and isinstance(amount, int | float) and cap < amount:
        return False  # auto top-up: the cap is at least the amount, a rule across fields
    if not _configured_and_timely(path, body):
        return False
    if body.get("tax_id") and body.get("country"):
        return False  # a tax number valid in its country (its checksum): across fields
    if body.get("webhook_url"):
        return False  # its host must resolve to public addresses: the network's state (egress)
    # The origins a person may be sent back to are RETURN_URL_ORIGINS and the gateway's own.
    return "return_url" not in body


def _configured_and_timely(path: str, body: dict[str, Any]) -> bool:
    """Rules of the clock, the configuration and across fields, which no schema states."""
    if path.endswith("/invoices") and str(body.get("month", "")) > _this_month():
        return False  # a month that has begun, as a statement's: the clock's rule
    if path.endswith("/invoices") and body.get("currency", "USD") != "USD" and "rate" not in body:
        return False  # another currency needs a rate, given or the customer's: across fields
    if path.endswith("/receipt-header") and body.get("enabled") is True:
        return False  # receipts are signed only with the operator's LEDGER_SIGNING_KEY
    # A price change (of models, or an account's markup) names models the gateway prices and
    # takes effect ahead of the clock by PRICE_CHANGE_LEAD_S: the catalogue's and the clock's.
    return not (("/prices/" in path or path.endswith("/markup")) and "effective_at" in body)


def _this_month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


@schemathesis.hook
def filter_query(context: HookContext, query: Any) -> bool:
    if not isinstance(query, dict) or context.operation is None:
        return True
    path = context.operation.path
    if path.endswith(("/usage", "/usage/report")) and ("from" in query or "to" in query):
        return False  # from < to, at most 400 days apart, and to defaults to tomorrow
    if str(query.get("group_by", "")).startswith("tag:") and query.get("end_user"):
        return False  # a tag's values are not kept per end user: a rule across fields
    if path.endswith("/audit") and ("since" in query or "until" in query):
        return False  # a time (RFC 3339) or a day, which the document says in words
    if path.endswith("/exports/focus"):
        month = query.get("month")
        if month is not None and str(month) > datetime.now(UTC).strftime("%Y-%m"):
            return False  # a month that has begun, as a statement's
    if path.endswith("/ledger"):
        if query.get("key_id") or query.get("team_id"):
            return False  # must be a key or team of the account read
        start, end = query.get("from"), query.get("to")
        if start is not None and end is not None and str(start) >= str(end):
            return False  # from before to
    return True


@schemathesis.hook
def filter_path_parameters(context: HookContext, path_parameters: Any) -> bool:
    month = path_parameters.get("month") if isinstance(path_parameters, dict) else None
    # A statement is of a month that has begun.
    return month is None or str(month) <= datetime.now(UTC).strftime("%Y-%m")
