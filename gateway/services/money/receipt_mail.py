"""A receipt e-mailed to the people who pay: once a top-up is credited or a plan's invoice is
paid, its receipt (number, lines, card, link) is queued as `payment.receipt` through the
notification outbox, keyed by the payment, so a replayed provider event sends nothing twice.
The outbox delivers it to the account's owner and billing members (or NOTIFY_EMAIL_TO).

A receipt that cannot be read (the provider does not answer, or answers something else) is
logged and skipped: a payment's credit never waits on, nor fails with, its e-mail."""

from __future__ import annotations

import logging
from typing import Any

from billing.money.receipts import Seller, receipt_lines
from gateway.errors import NotFound
from gateway.services.money.payment.payments import Payments
from gateway.services.money.payment.port import ProviderUnavailable
from gateway.services.money.receipts import receipt_of

log = logging.getLogger("meterway.payments")
RECEIPTS = "/dashboard/billing/receipts/"


async def send_receipt(p: Payments, account_id: str, payment_id: str) -> None:
    """Queue the payment's receipt for its payers (once per payment)."""
    try:
        r = await receipt_of(p, Seller(), account_id, payment_id)
    except (NotFound, ProviderUnavailable) as exc:
        log.warning("receipt of %s not e-mailed: %s", payment_id, exc)
        return
    except Exception:  # reading a receipt never stops the payment event it follows
        log.exception("receipt of %s not e-mailed", payment_id)
        return
    data: dict[str, Any] = {"payment_id": payment_id, "receipt": r.number}
    data |= {"purpose": r.purpose, "amount_micros": r.amount_micros, "paid_with": r.paid_with}
    data |= {"lines": [list(line) for line in receipt_lines(r)]}
    if p.config.public_url:  # a link in a mail is whole, or none
        data |= {"url": f"{p.config.public_url}{RECEIPTS}{payment_id}"}
    await p.notify(account_id, "payment.receipt", data, payment_id)
