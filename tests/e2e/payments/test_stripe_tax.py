"""Invoices taxed by Stripe Tax (INVOICE_TAX=stripe, docs/guides/invoices.md), against the
fake Stripe's tax calculations (tests/support/fakes/stripe_tax.py: a seller in Germany,
registered in Germany, France and the UK): real calls through the gateway with the official
openai SDK, then the month's invoice. Stripe Tax names the rate and the reason, the invoice
applies it to its own subtotal by its one rounding rule and records the calculation; a
customer Stripe Tax cannot take is refused by name and nothing is issued or numbered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import ROUND_HALF_UP, Decimal

import pytest

from tests.e2e.test_invoices import SELLER, issue, postpaid
from tests.support.fakes.stripe_stack import StripeStack, gateway_on
from tests.support.harness import Gateway


@pytest.fixture
async def gw(dsn: str, stack: StripeStack) -> AsyncIterator[Gateway]:
    async with gateway_on(stack, dsn, **SELLER, INVOICE_TAX="stripe") as gateway:
        yield gateway


def half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


async def test_a_german_consumer_pays_stripe_taxs_vat_on_the_invoices_own_subtotal(
    gw: Gateway,
) -> None:
    gw.control.usage = {"prompt_tokens": 1_000, "completion_tokens": 500, "total_tokens": 1_500}
    details = {"legal_name": "Erika Mustermann", "address": ["Heidestr. 17"], "country": "DE",
               "currency": "EUR", "rate": "0.9231"}  # fmt: skip
    c = await postpaid(gw, details, calls=3)
    status, inv = await issue(gw, c.account_id)
    assert status == 201, inv
    tax = inv["tax"]
    assert (tax["name"], tax["percent"], tax["mention"]) == ("VAT", "19", "")
    assert tax["source"].startswith("Stripe Tax (taxcalc_"), tax
    assert inv["subtotal_minor"] > 0
    assert inv["tax_minor"] == half_up(Decimal(inv["subtotal_minor"]) * Decimal("0.19"))
    assert inv["total_minor"] == inv["subtotal_minor"] + inv["tax_minor"]
    status, shown = await gw.admin("GET", f"/admin/v1/invoices/{inv['number']}")
    assert status == 200 and shown["tax"] == tax  # recorded with the invoice


async def test_stripe_tax_names_reverse_charge_and_not_collecting(gw: Gateway) -> None:
    french = await postpaid(gw, {"legal_name": "Exemple SAS", "country": "FR",
                                 "tax_id": "FR40303265045", "currency": "EUR", "rate": "0.92"},
                            calls=2)  # fmt: skip
    status, inv = await issue(gw, french.account_id)
    assert status == 201, inv
    assert (inv["tax"]["percent"], inv["tax"]["mention"]) == ("0", "Reverse charge")
    assert inv["tax"]["reverse_charge"] is True and inv["tax_minor"] == 0
    # A French consumer (no tax id) pays French VAT: the seller is registered there.
    consumer = await postpaid(gw, {"legal_name": "Jean Dupont", "country": "FR"}, calls=1)
    status, inv = await issue(gw, consumer.account_id)
    assert status == 201 and (inv["tax"]["name"], inv["tax"]["percent"]) == ("VAT", "20"), inv
    # Japan: no registration, so Stripe Tax collects nothing and the invoice taxes nothing.
    japan = await postpaid(gw, {"legal_name": "Kabushiki", "country": "JP", "currency": "JPY",
                                "rate": "151.37"}, calls=1)  # fmt: skip
    status, inv = await issue(gw, japan.account_id)
    assert status == 201, inv
    assert (inv["tax"]["percent"], inv["tax"]["mention"], inv["tax_minor"]) == ("0", "", 0)


async def test_details_stripe_tax_cannot_take_issue_nothing(gw: Gateway) -> None:
    nowhere = await postpaid(gw, {"legal_name": "No Country Ltd"}, calls=1)
    status, body = await issue(gw, nowhere.account_id)
    assert status == 409 and "country" in body["error"]["message"], body
    # A tax id whose type Meterway does not know for its country is refused, not guessed.
    brazil = await postpaid(
        gw, {"legal_name": "Loja", "country": "BR", "tax_id": "11222333000181"}, calls=1
    )
    status, body = await issue(gw, brazil.account_id)
    assert status == 409 and "BR" in body["error"]["message"], body
    # Neither refusal used a number: the next invoice takes the next one.
    ok = await postpaid(gw, {"legal_name": "Kunde GmbH", "country": "DE"}, calls=1)
    status, first = await issue(gw, ok.account_id)
    assert status == 201, first
    again = await postpaid(gw, {"legal_name": "Kunde 2 GmbH", "country": "DE"}, calls=1)
    status, second = await issue(gw, again.account_id)
    assert status == 201, second
    assert int(second["number"].split("-")[1]) == int(first["number"].split("-")[1]) + 1
