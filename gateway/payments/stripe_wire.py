"""Reading Stripe's objects: pure functions over the SDK's objects (or plain dicts), so the
adapter's calls stay short and these stay testable without a server.

Amounts cross as cents (1 cent = 10,000 micros). Events and objects are reduced to the
port's values (`PaymentState`, `ProviderEvent`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from billing.money.tax import Tax, from_stripe
from gateway.services.money.payment.port import (
    CardOnFile,
    Invoice,
    PaymentState,
    ProviderEvent,
    ProviderUnavailable,
)

MICROS_PER_CENT = 10_000
KINDS = {
    "payment_intent.": "payment",
    "setup_intent.": "setup",
    "payment_method.": "setup",
    "customer.subscription.": "subscription",
    "invoice.": "invoice",
    "charge.refunded": "refund",
    "charge.dispute.": "dispute",
}
FAILED_PI = ("requires_payment_method", "canceled")


def when(stamp: object) -> datetime | None:
    return datetime.fromtimestamp(int(str(stamp)), UTC) if stamp else None


def get(obj: Any, *path: str) -> Any:
    for name in path:
        if obj is None:
            return None
        obj = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
    return obj


def id_of(value: Any) -> str | None:
    """An expandable field: an id string or an object with an id."""
    if value is None or isinstance(value, str):
        return value
    return str(get(value, "id"))


def payment_state(intent: Any) -> PaymentState | None:
    """A PaymentIntent as the ledger sees it; None when it is not a top-up (an invoice's).
    A PaymentIntent waiting for its first method is pending, not failed."""
    meta = get(intent, "metadata") or {}
    purpose = get(meta, "purpose")
    if purpose not in ("topup", "auto_topup"):
        return None
    status = str(get(intent, "status"))
    error = get(intent, "last_payment_error", "code")
    if status == "succeeded":
        mapped = "succeeded"
    elif status in FAILED_PI and (error or status == "canceled"):
        mapped = "failed"
    elif status == "requires_action":
        mapped = "requires_action"
    else:
        mapped = "pending"
    amount = int(get(intent, "amount")) * MICROS_PER_CENT
    return PaymentState(
        str(get(intent, "id")),
        str(get(meta, "account_id")),
        purpose,
        amount,
        mapped,  # type: ignore[arg-type]
        str(error) if error else None,
    )


def event_of(event: Any) -> ProviderEvent | None:
    """What an event names: its object's kind and id (a checkout session's kind is its mode)."""
    type_ = str(get(event, "type"))
    obj = get(event, "data", "object")
    kind: Any = "other"
    if type_.startswith("checkout.session."):
        kind = str(get(obj, "mode"))
    else:
        kind = next((k for p, k in KINDS.items() if type_.startswith(p)), "other")
    return ProviderEvent(
        str(get(event, "id")),
        type_,
        kind,
        str(get(obj, "id")),
        when(get(event, "created")) or datetime.now(UTC),
    )


def card_of(method: Any) -> CardOnFile | None:
    """A PaymentMethod's card: brand and last four digits only."""
    card = get(method, "card")
    if card is None or not get(card, "last4"):
        return None
    month, year = get(card, "exp_month"), get(card, "exp_year")
    return CardOnFile(
        str(get(card, "brand") or "card"),
        str(get(card, "last4")),
        int(month) if month else None,
        int(year) if year else None,
    )


def invoice_of(inv: Any, plans: dict[str, str] | None = None) -> Invoice:
    """An invoice as the account sees it: what it was for (amount due), where it stands, and
    the plan and period its first line bills (`plans`: the gateway's plans by Stripe price)."""
    cents = get(inv, "amount_paid") if get(inv, "status") == "paid" else get(inv, "amount_due")
    created = when(get(inv, "created")) or datetime.fromtimestamp(0, UTC)
    lines = get(inv, "lines", "data") or []
    line = lines[0] if lines else None
    price = id_of(get(line, "price")) or id_of(get(line, "plan")) or ""
    start, end = when(get(line, "period", "start")), when(get(line, "period", "end"))
    return Invoice(
        str(get(inv, "id")),
        get(inv, "number"),
        int(cents or 0) * MICROS_PER_CENT,
        str(get(inv, "status") or "draft"),
        created,
        get(inv, "hosted_invoice_url"),
        (plans or {}).get(price),
        (start, end) if start and end else None,
    )


def tax_of_calculation(calc: Any) -> Tax:
    """A Stripe Tax calculation's rate: its `tax_breakdown`, each part's
    `tax_rate_details.percentage_decimal` and `tax_type` (no details: a sale Stripe collects
    nothing on, `not_collecting`) and its `taxability_reason`. A rate that is not an exact
    decimal from 0 to 100 is an answer no invoice can apply: ProviderUnavailable."""
    parts = []
    for part in get(calc, "tax_breakdown") or []:
        text = str(get(part, "tax_rate_details", "percentage_decimal") or "0")
        try:
            percent = Decimal(text)
        except InvalidOperation:
            percent = Decimal("NaN")
        if not percent.is_finite() or not 0 <= percent <= 100:
            raise ProviderUnavailable(f"Stripe Tax answered the rate {text!r}", None)
        kind = str(get(part, "tax_rate_details", "tax_type") or "")
        parts.append((percent, kind, str(get(part, "taxability_reason") or "")))
    return from_stripe(parts, str(get(calc, "id") or "no id"))


def error_message(exc: Exception) -> str:
    """What Stripe (or a server standing in for it) said, without the SDK's "Request req_..:"
    prefix: its own message for a JSON error, the SDK's account of any other answer."""
    said = getattr(exc, "user_message", None) or str(exc)
    return str(said)
