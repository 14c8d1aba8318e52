"""The local provider's cards and objects: Stripe's test card numbers and what each does,
event kinds by type, and the stored documents read as the payments port's states."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.services.money.payment.port import (
    Invoice,
    PaymentState,
    RefundState,
    SubscriptionState,
)

SUCCEEDS, DECLINED, NEEDS_AUTH = "4242424242424242", "4000000000000002", "4000002500003155"
CARDS = {SUCCEEDS: "succeeds", DECLINED: "declined", NEEDS_AUTH: "requires authentication"}
BRAND = "visa"  # every test card number above is a Visa number
EVENT_KINDS = {
    "payment_intent": "payment",
    "setup_intent": "setup",
    "payment_method": "setup",
    "customer.subscription": "subscription",
    "invoice": "invoice",
    "charge.refunded": "refund",
}

PERIOD = timedelta(days=30)  # a local subscription's period


def new_id(prefix: str) -> str:
    return f"{prefix}_local_{secrets.token_hex(10)}"


def event_kind(type_: str, mode: str | None = None) -> str:
    if type_.startswith("checkout.session") and mode:
        return mode
    for prefix, kind in EVENT_KINDS.items():
        if type_.startswith(prefix):
            return kind
    return "other"


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat()


def payment_event(status: str) -> str:
    return "payment_intent.succeeded" if status == "succeeded" else "payment_intent.payment_failed"


def failure_of(card: str | None, *, off_session: bool) -> str:
    if card is None:
        return "no payment method on file"
    if card == NEEDS_AUTH:
        return "authentication_required" if off_session else "authentication failed"
    return "card_declined"


def payment_state(doc: dict[str, Any]) -> PaymentState:
    status: Any = "succeeded" if doc["status"] == "refunded" else doc["status"]  # it did succeed
    return PaymentState(
        doc["id"],
        doc["account_id"],
        doc["purpose"],
        doc["amount_micros"],
        status,
        doc.get("failure"),
    )


def refund_state(doc: dict[str, Any]) -> RefundState:
    return RefundState(doc["id"], doc["account_id"], doc["payment_id"], doc["amount_micros"])


def subscription_state(doc: dict[str, Any]) -> SubscriptionState:
    end = datetime.fromisoformat(doc["period_end"]) if doc.get("period_end") else None
    return SubscriptionState(doc["id"], doc["account_id"], doc["plan"], doc["status"], end)


def utc_now() -> datetime:
    return datetime.now(UTC)


def invoice_of(doc: dict[str, Any]) -> Invoice:
    """A local invoice; one written before invoices carried an amount or a date reads 0 and
    the epoch."""
    created = datetime.fromisoformat(doc.get("created") or "1970-01-01T00:00:00+00:00")
    status = "paid" if doc.get("paid") else "open"
    amount = int(doc.get("amount_micros", 0))
    end = datetime.fromisoformat(doc["period_end"]) if doc.get("period_end") else None
    period = (end - PERIOD, end) if end else None
    return Invoice(
        doc["id"], doc["id"].upper(), amount, status, created, None, doc.get("plan"), period
    )
