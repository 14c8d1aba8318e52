"""Sending an issued invoice through the payment provider (Stripe Invoicing) and learning
that it was paid (docs/guides/invoices.md, "Sending").

The provider receives the invoice as Meterway issued it: each charged line and the tax as an
item in the invoice's currency's minor units, so its total is the invoice's to the minor unit
and it computes no figure of its own. The invoice stays as issued; where it went is its
delivery row. A credit note of an invoice the provider holds is recorded there against
it (Stripe's credit notes); one of an invoice never sent is not sent either.
"""

from __future__ import annotations

from datetime import datetime

from billing.contracts.invoices import CHARGED, InvalidInvoice, Invoice, parse_number
from gateway.services.money.payment.payments import Payments
from gateway.services.money.payment.port import CreditToSend, InvoiceToSend
from gateway.stores.ports import InvoicesPort
from gateway.stores.records import Row


def items_of(inv: Invoice) -> tuple[tuple[str, int], ...]:
    """The provider's items: each charged line that is not zero, then the tax (none at 0%:
    the invoice's mention, a reverse charge, is on its PDF)."""
    items = [
        (f"{ln.label or ln.key or ln.section} ({ln.section})", ln.amount_minor)
        for ln in inv.lines
        if ln.section in CHARGED and ln.amount_minor
    ]
    if inv.tax_minor:
        percent = format(inv.tax.percent.normalize(), "f")
        items.append((f"{inv.tax.name} {percent}%", inv.tax_minor))
    return tuple(items)


def to_send(inv: Invoice, email: str, days_due: int) -> InvoiceToSend:
    return InvoiceToSend(
        inv.number, inv.account_id, email, inv.currency, items_of(inv), inv.total_minor, days_due
    )


async def send(
    payments: Payments, store: InvoicesPort, inv: Invoice, now: datetime, days_due: int
) -> tuple[Row, bool]:
    """Send `inv` to the customer's invoicing e-mail through the provider; its delivery row,
    and whether this call sent it (False: it had been sent, nothing was sent again).
    A credit note goes where the invoice it corrects went.
    Raises InvalidInvoice (nothing to collect, no e-mail, a credit note of an invoice not
    sent), InvoiceNotSent, NotConfigured or ProviderUnavailable; nothing is recorded then."""
    sent = await store.delivery(inv.series, inv.sequence)
    if sent is not None:
        return sent, False
    if inv.kind != "invoice":
        return await _send_credit(payments, store, inv, now), True
    if inv.total_minor <= 0:
        raise InvalidInvoice(f"{inv.number} asks for nothing: there is nothing to collect.")
    details = await store.customer(inv.account_id)
    email = str((details or {}).get("email", ""))
    if not email:
        raise InvalidInvoice(
            "The customer has no invoicing e-mail: set it first (PUT"
            f' /admin/v1/accounts/{inv.account_id}/invoicing, "email").'
        )
    profile = await payments.profile(inv.account_id)
    done = await payments.provider.send_invoice(profile.customer_id, to_send(inv, email, days_due))
    row = await store.record_delivery(
        inv.series, inv.sequence, payments.provider.name, done.id, done.url, now
    )
    return row, True


async def _send_credit(payments: Payments, store: InvoicesPort, inv: Invoice, now: datetime) -> Row:
    number = parse_number(inv.credits)
    corrected = None if number is None else await store.delivery(*number)
    if corrected is None:
        raise InvalidInvoice(
            f"{inv.number} corrects {inv.credits}, which was not sent: neither is its credit"
            " note (the customer reads it in the API and the PDF)."
        )
    provider = payments.provider
    if corrected["provider"] != provider.name:
        raise InvalidInvoice(
            f"{inv.credits} was sent through {corrected['provider']}, not {provider.name}:"
            " its credit note goes there."
        )
    if inv.total_minor >= 0:
        raise InvalidInvoice(f"{inv.number} credits nothing: there is nothing to send.")
    credit = CreditToSend(
        inv.number, inv.credits, str(corrected["provider_invoice_id"]), inv.account_id,
        -inv.total_minor, inv.reason,
    )  # fmt: skip
    done = await provider.send_credit_note(credit)
    return await store.record_delivery(
        inv.series, inv.sequence, provider.name, done.id, done.url, now
    )
