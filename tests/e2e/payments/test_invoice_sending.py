"""Invoices sent through Stripe Invoicing (docs/guides/invoices.md, "Sending"), against
localstripe with the finalize and send it lacks (tests/support/fakes/localstripe_invoicing.py,
Stripe's rules): real calls through the gateway with the official openai SDK put debits in
the ledger; the operator issues the month's invoice in EUR with German VAT and sends it; the
Stripe invoice holds exactly its lines and tax, in its currency, to the minor unit; the
customer pays it on Stripe's page and the signed webhook marks it paid, once; a second send
sends nothing; a credit note, an invoice without an e-mail and a draft that Stripe totals
differently are refused with nothing sent or recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.e2e.test_invoices import SELLER, issue, postpaid
from tests.support.fakes.stripe_stack import StripeStack, gateway_on
from tests.support.harness import Gateway

GERMAN = {"country": "DE", "legal_name": "Kunde GmbH", "currency": "EUR", "rate": "0.92",
          "rate_source": "ECB reference rate", "email": "ap@kunde.example"}  # fmt: skip


@pytest.fixture
async def gw(dsn: str, stack: StripeStack) -> AsyncIterator[Gateway]:
    async with gateway_on(stack, dsn, **SELLER) as gateway:
        yield gateway


async def charge(gw: Gateway, account_id: str, micros: int) -> None:
    """A charged adjustment, after a credit covering it and the calls' debits (money out
    takes at most the balance), so the invoice asks for a sum worth sending."""
    account = f"/admin/v1/accounts/{account_id}"
    for path, amount in (("/credits", micros + 1_000_000), ("/adjustments", -micros)):
        body = {"amount_micros": amount, "idempotency_key": f"{path}-{micros}", "reason": "fee"}
        status, answer = await gw.admin("POST", account + path, body)
        assert status < 300, answer


async def invoiced(gw: Gateway, details: dict[str, Any], calls: int = 2) -> dict[str, Any]:
    """A postpaid organization with `calls` real calls and a charged adjustment of
    $12.345678, and its invoice of this month."""
    customer = await postpaid(gw, details, calls)
    await charge(gw, customer.account_id, 12_345_678)
    status, inv = await issue(gw, customer.account_id)
    assert status == 201 and inv["total_minor"] > 0, inv
    return dict(inv)


async def stripe_invoice(stack: StripeStack, invoice_id: str) -> Any:
    return await stack.client.v1.invoices.retrieve_async(invoice_id)


async def test_an_invoice_is_sent_exactly_and_marked_paid_by_its_webhook(
    gw: Gateway, stack: StripeStack
) -> None:
    inv = await invoiced(gw, GERMAN)
    assert inv["delivery"] is None
    status, sent = await gw.admin("POST", f"/admin/v1/invoices/{inv['number']}/send")
    assert status == 200, sent
    delivery = sent["delivery"]
    assert delivery["provider"] == "stripe" and delivery["status"] == "sent", delivery
    assert delivery["url"] and delivery["paid_at"] is None

    # Stripe holds exactly the invoice: its charged lines and the VAT, in EUR cents.
    remote = await stripe_invoice(stack, delivery["provider_invoice_id"])
    assert remote.status == "open" and remote.collection_method == "send_invoice"
    assert remote.currency == "eur" and remote.total == inv["total_minor"]
    assert remote.metadata["meterway_invoice"] == inv["number"]
    charged = [ln["amount_minor"] for ln in inv["lines"]
               if ln["section"] in ("usage", "adjustment") and ln["amount_minor"]]  # fmt: skip
    assert charged, inv["lines"]  # the adjustment (calls to the fake cost under a cent)
    amounts = sorted(ln.amount for ln in remote.lines.data)
    assert amounts == sorted([*charged, inv["tax_minor"]]), (amounts, inv)
    assert inv["tax"]["percent"] == "19" and inv["tax_minor"] > 0
    customer = await stack.client.v1.customers.retrieve_async(str(remote.customer))
    assert customer.email == GERMAN["email"]

    # Sent again: the same delivery, nothing new at Stripe, no second audit record.
    status, again = await gw.admin("POST", f"/admin/v1/invoices/{inv['number']}/send")
    assert status == 200 and again["delivery"] == delivery, again
    listed = await stack.client.v1.invoices.list_async(params={"customer": str(remote.customer)})
    assert [i.id for i in listed.data] == [remote.id]

    # The customer pays on Stripe's page; the signed webhook marks the invoice paid.
    await stack.pay_invoice(remote.id)
    await stack.quiet()
    status, shown = await gw.admin("GET", f"/admin/v1/invoices/{inv['number']}")
    assert status == 200 and shown["delivery"]["status"] == "paid", shown["delivery"]
    assert shown["delivery"]["paid_at"] is not None
    # The invoice itself is as issued; only its delivery changed.
    assert {k: v for k, v in shown.items() if k != "delivery"} == {
        k: v for k, v in inv.items() if k != "delivery"}  # fmt: skip
    status, audit = await gw.admin("GET", f"/admin/v1/audit?account_id={inv['account_id']}")
    assert [r["action"] for r in audit["data"]].count("invoice.send") == 1, audit


async def test_what_cannot_be_sent_is_refused_with_nothing_sent(
    gw: Gateway, stack: StripeStack
) -> None:
    # No invoicing e-mail: refused by name, nothing at Stripe, nothing recorded.
    inv = await invoiced(gw, {k: v for k, v in GERMAN.items() if k != "email"}, calls=1)
    status, body = await gw.admin("POST", f"/admin/v1/invoices/{inv['number']}/send")
    assert status == 409 and "e-mail" in body["error"]["message"], body
    # A credit note is not sent.
    path = f"/admin/v1/invoices/{inv['number']}/credit-note"
    status, note = await gw.admin("POST", path, {"reason": "outage"})
    assert status == 201, note
    status, body = await gw.admin("POST", f"/admin/v1/invoices/{note['number']}/send")
    assert status == 409 and "credit note" in body["error"]["message"], body

    # Another pending item of the customer would join Stripe's draft: the totals differ,
    # the draft is deleted and nothing is sent or recorded.
    first = await invoiced(gw, GERMAN, calls=1)
    status, sent = await gw.admin("POST", f"/admin/v1/invoices/{first['number']}/send")
    assert status == 200, sent
    remote = await stripe_invoice(stack, sent["delivery"]["provider_invoice_id"])
    customer = str(remote.customer)
    await stack.client.v1.invoice_items.create_async(
        params={"customer": customer, "amount": 999, "currency": "eur", "description": "stray"}
    )
    await charge(gw, first["account_id"], 500_000)
    status, later = await issue(gw, first["account_id"])
    assert status == 201 and later["total_minor"] > 0, later
    status, body = await gw.admin("POST", f"/admin/v1/invoices/{later['number']}/send")
    assert status == 409 and "joined" in body["error"]["message"], body
    status, shown = await gw.admin("GET", f"/admin/v1/invoices/{later['number']}")
    assert status == 200 and shown["delivery"] is None, shown
    listed = await stack.client.v1.invoices.list_async(params={"customer": customer})
    assert [i.id for i in listed.data] == [remote.id]  # the mismatched draft is gone


async def credited(gw: Gateway, inv: dict[str, Any]) -> dict[str, Any]:
    """A credit note of every line of `inv`, sent where `inv` went."""
    path = f"/admin/v1/invoices/{inv['number']}/credit-note"
    status, note = await gw.admin("POST", path, {"reason": "service outage"})
    assert status == 201 and note["total_minor"] == -inv["total_minor"], note
    status, sent = await gw.admin("POST", f"/admin/v1/invoices/{note['number']}/send")
    assert status == 200, sent
    return dict(sent)


async def test_a_credit_note_goes_to_stripe_against_the_invoice_it_corrects(
    gw: Gateway, stack: StripeStack
) -> None:
    """Before payment it takes the open invoice's amount off what Stripe asks for; after
    payment it is recorded as credited outside Stripe (Meterway's ledger settles it). Sent
    again, nothing new is made."""
    unpaid = await invoiced(gw, GERMAN, calls=1)
    status, sent = await gw.admin("POST", f"/admin/v1/invoices/{unpaid['number']}/send")
    assert status == 200, sent
    remote_id = sent["delivery"]["provider_invoice_id"]
    note = await credited(gw, unpaid)
    delivery = note["delivery"]
    assert delivery["provider"] == "stripe" and delivery["provider_invoice_id"].startswith("cn_")
    cn = await stack.client.v1.credit_notes.retrieve_async(delivery["provider_invoice_id"])
    assert (cn.invoice, cn.amount, cn.currency) == (remote_id, unpaid["total_minor"], "eur")
    assert (cn.type, cn.pre_payment_amount, cn.out_of_band_amount) == (
        "pre_payment",
        unpaid["total_minor"],
        0,
    )
    assert cn.metadata["meterway_credit_note"] == note["number"]
    assert (await stripe_invoice(stack, remote_id)).amount_remaining == 0
    status, again = await gw.admin("POST", f"/admin/v1/invoices/{note['number']}/send")
    assert status == 200 and again["delivery"] == delivery, again
    listed = await stack.client.v1.credit_notes.list_async(params={"invoice": remote_id})
    assert [c.id for c in listed.data] == [cn.id]

    paid = await invoiced(gw, GERMAN, calls=1)
    status, sent = await gw.admin("POST", f"/admin/v1/invoices/{paid['number']}/send")
    assert status == 200, sent
    await stack.pay_invoice(sent["delivery"]["provider_invoice_id"])
    await stack.quiet()
    note = await credited(gw, paid)
    cn = await stack.client.v1.credit_notes.retrieve_async(note["delivery"]["provider_invoice_id"])
    assert (cn.type, cn.amount, cn.post_payment_amount, cn.out_of_band_amount) == (
        "post_payment",
        paid["total_minor"],
        paid["total_minor"],
        paid["total_minor"],
    )
    status, audit = await gw.admin("GET", f"/admin/v1/audit?account_id={paid['account_id']}")
    sends = [r["target_id"] for r in audit["data"] if r["action"] == "invoice.send"]
    assert sorted(sends) == sorted([paid["number"], note["number"]]), audit
