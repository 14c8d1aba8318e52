"""Finding an account's receipt: a succeeded top-up (its payment row) or a paid invoice of
its subscription (as the provider lists it), with its number (given on first asking), the
card it was paid with and what has been refunded of it. Anything else, another account's
included, is the same NotFound, so a receipt id tells nothing about anybody else's payments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from billing.money.receipts import Receipt, Seller, card_words
from gateway.errors import NotFound
from gateway.services.money.payment.payments import Payments
from gateway.services.money.payment.port import Invoice, ProviderUnavailable

INVOICES_SEARCHED = 100  # a subscription's paid invoices are looked for among its latest


@dataclass(frozen=True, slots=True)
class Paid:
    """What the receipt is for: its purpose, amount and time, and a plan's invoice's plan
    and period."""

    purpose: str
    amount_micros: int
    at: datetime
    invoice: Invoice | None = None


async def receipt_of(p: Payments, seller: Seller, account_id: str, receipt_id: str) -> Receipt:
    account = await p.ledger.get_account(account_id)
    if account is None or not receipt_id or "\x00" in receipt_id:
        raise NotFound("No such receipt.")
    row = await p.profiles.payment(account_id, receipt_id)
    if row is not None and row["status"] == "succeeded":
        paid = Paid(row["purpose"], int(row["amount_micros"]), row["created_at"])
    else:
        paid = await _paid_invoice(p, account_id, receipt_id)
    refunded = await p.profiles.refund_claims.refunded(account_id, [receipt_id])
    invoice = paid.invoice
    return Receipt(
        receipt_id,
        paid.purpose,
        paid.amount_micros,
        paid.at,
        account_id,
        str(account["name"] or account_id),
        seller,
        refunded.get(receipt_id, 0),
        sequence=await p.profiles.receipt_numbers.number(account_id, receipt_id),
        plan=invoice.plan if invoice else None,
        period=invoice.period if invoice else None,
        paid_with=await _card(p, receipt_id),
    )


async def _card(p: Payments, payment_id: str) -> str:
    """The card a payment was made with, in words; empty when the provider does not say or
    does not answer (the receipt still draws)."""
    try:
        card = await p.provider.paid_with(payment_id)
    except ProviderUnavailable:
        return ""
    return card_words(card.brand, card.last4) if card else ""


async def _paid_invoice(p: Payments, account_id: str, invoice_id: str) -> Paid:
    profile = await p.profiles.profile(account_id)
    if profile is None:
        raise NotFound("No such receipt.")
    found = await p.provider.invoices(account_id, profile.customer_id, INVOICES_SEARCHED)
    for invoice in found:
        if invoice.id == invoice_id and invoice.status == "paid":
            return Paid("subscription", invoice.amount_micros, invoice.created, invoice)
    raise NotFound("No such receipt.")
