"""Reading Stripe's objects (payments/stripe_wire.py): what an event names, what a
PaymentIntent's state means for the ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway.payments.stripe_wire import event_of, invoice_of, payment_state


def _intent(status: str, **kw: Any) -> dict[str, Any]:
    meta = {"account_id": "acct_1", "purpose": kw.pop("purpose", "topup")}
    return {"id": "pi_1", "status": status, "amount": 1234, "metadata": meta, **kw}


def test_events_name_the_object_to_re_fetch() -> None:
    def kind(type_: str, obj: dict[str, Any]) -> tuple[str, str]:
        e = event_of(
            {"id": "evt_1", "type": type_, "created": 1_800_000_000, "data": {"object": obj}}
        )
        assert e is not None and e.id == "evt_1"
        assert e.created == datetime.fromtimestamp(1_800_000_000, UTC)
        return e.kind, e.object_id

    assert kind("checkout.session.completed", {"id": "cs_1", "mode": "setup"}) == ("setup", "cs_1")
    assert kind("checkout.session.completed", {"id": "cs_2", "mode": "payment"})[0] == "payment"
    assert kind("payment_intent.succeeded", {"id": "pi_1"}) == ("payment", "pi_1")
    assert kind("invoice.payment_failed", {"id": "in_1"}) == ("invoice", "in_1")
    assert kind("customer.subscription.deleted", {"id": "sub_1"})[0] == "subscription"
    assert kind("charge.refunded", {"id": "ch_1"}) == ("refund", "ch_1")
    assert kind("charge.dispute.created", {"id": "dp_1"}) == ("dispute", "dp_1")
    assert kind("customer.created", {"id": "cus_1"})[0] == "other"


def test_payment_intent_states() -> None:
    ok = payment_state(_intent("succeeded"))
    assert ok is not None and (ok.status, ok.amount_micros, ok.account_id) == (
        "succeeded",
        12_340_000,
        "acct_1",
    )
    declined = payment_state(
        _intent("requires_payment_method", last_payment_error={"code": "card_declined"})
    )
    assert declined is not None and (declined.status, declined.failure) == (
        "failed",
        "card_declined",
    )
    fresh = payment_state(_intent("requires_payment_method"))  # not tried yet: not a failure
    assert fresh is not None and fresh.status == "pending"
    assert payment_state(_intent("requires_action")).status == "requires_action"  # type: ignore[union-attr]
    assert payment_state(_intent("succeeded", purpose="auto_topup")).purpose == "auto_topup"  # type: ignore[union-attr]
    assert payment_state(_intent("succeeded", purpose=None)) is None  # an invoice's payment


def test_an_invoice_names_the_plan_and_period_its_line_bills() -> None:
    """A plan payment's receipt lists the plan and the period it pays for, read off the
    invoice's first line (its price, as the plans name Stripe's prices)."""
    start, end = 1_795_000_000, 1_797_592_000
    line = {"price": {"id": "price_starter"}, "period": {"start": start, "end": end}}
    inv = {"id": "in_1", "number": "A-1", "status": "paid", "amount_paid": 2000,
           "created": start, "lines": {"data": [line]}}  # fmt: skip
    found = invoice_of(inv, {"price_starter": "starter"})
    assert (found.plan, found.amount_micros) == ("starter", 20_000_000)
    assert found.period == (datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC))
    bare = invoice_of({"id": "in_2", "status": "open", "amount_due": 500})
    assert (bare.plan, bare.period, bare.amount_micros) == (None, None, 5_000_000)
