"""Reading Stripe's objects (payments/stripe_wire.py): what an event names, what a
PaymentIntent's state means for the ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from gateway.payments.stripe_wire import event_of, invoice_of, payment_state, tax_of_calculation
from gateway.services.money.payment.port import ProviderUnavailable


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


def _calc(*parts: tuple[str | None, str | None, str]) -> dict[str, Any]:
    return {
        "id": "taxcalc_1",
        "tax_breakdown": [
            {"amount": 0, "taxability_reason": reason,
             "tax_rate_details": None if percent is None else
             {"percentage_decimal": percent, "tax_type": kind}}
            for percent, kind, reason in parts
        ],
    }  # fmt: skip


def test_a_stripe_tax_calculation_is_one_rate_and_its_mention() -> None:
    vat = tax_of_calculation(_calc(("19.0", "vat", "standard_rated")))
    assert (vat.percent, vat.name, vat.mention) == (Decimal(19), "VAT", "")
    assert vat.source == "Stripe Tax (taxcalc_1)"
    reverse = tax_of_calculation(_calc(("0.0", "vat", "reverse_charge")))
    assert reverse.reverse_charge and reverse.percent == 0
    # A state's and a county's sales tax add up to the one rate the invoice applies.
    us = tax_of_calculation(_calc(("6.0", "sales_tax", "standard_rated"),
                                  ("2.875", "sales_tax", "standard_rated")))  # fmt: skip
    assert (str(us.percent), us.name) == ("8.875", "Sales tax")
    nothing = tax_of_calculation(_calc((None, None, "not_collecting")))
    assert (nothing.percent, nothing.mention) == (Decimal(0), "")
    assert tax_of_calculation({"id": "taxcalc_2", "tax_breakdown": []}).percent == 0
    for bad in ("abc", "-1", "101", "NaN", "Infinity"):
        with pytest.raises(ProviderUnavailable, match="rate"):
            tax_of_calculation(_calc((bad, "vat", "standard_rated")))
