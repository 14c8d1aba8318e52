"""Finding an account's receipt: a succeeded top-up (its payment row) or a paid invoice of
its subscription (as the provider lists it). Anything else, another account's included,
is the same NotFound, so a receipt id tells nothing about anybody else's payments."""

from __future__ import annotations

from datetime import datetime

from billing.receipts import Receipt, Seller
from gateway.errors import NotFound
from gateway.services.payments import Payments

INVOICES_SEARCHED = 100  # a subscription's paid invoices are looked for among its latest


async def receipt_of(p: Payments, seller: Seller, account_id: str, receipt_id: str) -> Receipt:
    account = await p.ledger.get_account(account_id)
    if account is None or not receipt_id or "\x00" in receipt_id:
        raise NotFound("No such receipt.")
    row = await p.profiles.payment(account_id, receipt_id)
    if row is not None and row["status"] == "succeeded":
        paid: tuple[str, int, datetime] = (row["purpose"], row["amount_micros"], row["created_at"])
    else:
        paid = await _paid_invoice(p, account_id, receipt_id)
    purpose, amount, at = paid
    name = str(account["name"] or account_id)
    refunded = (await p.profiles.refund_claims.refunded(account_id, [receipt_id])).get(
        receipt_id, 0
    )
    return Receipt(receipt_id, purpose, int(amount), at, account_id, name, seller, refunded)


async def _paid_invoice(p: Payments, account_id: str, invoice_id: str) -> tuple[str, int, datetime]:
    for invoice in await p.invoices(account_id, INVOICES_SEARCHED):
        if invoice["id"] == invoice_id and invoice["status"] == "paid":
            created = datetime.fromisoformat(invoice["created"])
            return "subscription", int(invoice["amount_micros"]), created
    raise NotFound("No such receipt.")
