"""Sending an issued invoice through the payment provider (Stripe Invoicing) and learning
that it was paid (docs/guides/invoices.md, "Sending").

The provider receives the invoice as Meterway issued it: each charged line and the tax as an
item in the invoice's currency's minor units, so its total is the invoice's to the minor unit
and it computes no figure of its own. The invoice stays as issued; where it went is its
delivery row. A credit note is not sent: the customer reads it in the API and the PDF.
"""

from __future__ import annotations

from datetime import datetime

from billing.invoices import CHARGED, InvalidInvoice, Invoice
from gateway.services.payment.payments import Payments
from gateway.services.payment.port import InvoiceToSend
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
    Raises InvalidInvoice (a credit note, nothing to collect, no e-mail), InvoiceNotSent,
    NotConfigured or ProviderUnavailable; nothing is recorded then."""
    if inv.kind != "invoice":
        raise InvalidInvoice(f"{inv.number} is a credit note: only invoices are sent.")
    sent = await store.delivery(inv.series, inv.sequence)
    if sent is not None:
        return sent, False
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
