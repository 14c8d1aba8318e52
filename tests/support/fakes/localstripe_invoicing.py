"""What localstripe lacks of Stripe Invoicing, added inside its own process before its
server starts (tests/support/fakes/stripe_stack.py runs this file there), with Stripe's
rules as its API reference states them (docs.stripe.com/api/invoices):

- an invoice's `collection_method` is `charge_automatically` (default) or `send_invoice`;
  `send_invoice` needs `days_until_due`, which `charge_automatically` refuses;
  `auto_advance` is a boolean;
- `POST /v1/invoices/{id}/finalize` takes a draft only; the invoice is then `open` (or
  `paid` at a zero total) and gets its `hosted_invoice_url`; it sends `invoice.finalized`;
- `POST /v1/invoices/{id}/send` takes an open invoice collected by `send_invoice` whose
  customer has an e-mail address; it sends `invoice.sent`;
- a paid invoice sends `invoice.paid` as well as localstripe's `invoice.payment_succeeded`;
- `POST /v1/credit_notes` (docs.stripe.com/api/credit_notes/create) takes a finalized
  invoice and an `amount` (tax included) up to what earlier credit notes left of its total;
  it first reduces the invoice's `amount_remaining` (`pre_payment_amount`), and the rest
  (`post_payment_amount`) must equal `refund_amount` + `credit_amount` +
  `out_of_band_amount`; it sends `credit_note.created`.

This file imports nothing of the tests: it runs in localstripe's interpreter.
"""

from __future__ import annotations

from typing import Any

import localstripe.resources as r  # type: ignore[import-untyped]
from localstripe.errors import UserError  # type: ignore[import-untyped]

_create = r.Invoice._api_create.__func__
_paid = r.Invoice._on_payment_success
METHODS = ("charge_automatically", "send_invoice")


def _api_create(
    cls: Any,
    /,
    customer: Any = None,
    subscription: Any = None,
    collection_method: str = "charge_automatically",
    days_until_due: Any = None,
    auto_advance: Any = None,
    pending_invoice_items_behavior: Any = None,
    description: Any = None,
    metadata: Any = None,
    **data: Any,
) -> Any:
    """A standalone invoice (localstripe makes only a subscription's): the customer's
    pending items when `pending_invoice_items_behavior` is `include`, none for `exclude`
    (Stripe's default)."""
    days = r.try_convert_to_int(days_until_due)
    advance = r.try_convert_to_bool(auto_advance) if auto_advance is not None else None
    behavior = pending_invoice_items_behavior or "exclude"
    if collection_method not in METHODS:
        raise UserError(400, f"Invalid collection_method: must be one of {', '.join(METHODS)}")
    if collection_method == "send_invoice" and (not isinstance(days, int) or days < 0):
        raise UserError(400, "Missing required param: days_until_due.")
    if collection_method == "charge_automatically" and days is not None:
        raise UserError(
            400, "days_until_due can only be set when collection_method is send_invoice"
        )
    if advance is not None and not isinstance(advance, bool):
        raise UserError(400, "Invalid boolean: auto_advance")
    if behavior not in ("include", "exclude"):
        raise UserError(400, "Invalid pending_invoice_items_behavior: include or exclude")
    if subscription is not None:
        invoice = _create(cls, customer=customer, subscription=subscription,
                          description=description, metadata=metadata, **data)  # fmt: skip
    else:
        if data:
            raise UserError(400, "Received unknown parameters: " + ", ".join(data))
        if not (isinstance(customer, str) and customer.startswith("cus_")):
            raise UserError(400, "Missing required param: customer.")
        invoice = cls(customer=customer, description=description, metadata=metadata,
                      simulation=behavior == "exclude")  # fmt: skip
        if behavior == "exclude":
            invoice.lines._list = []
    invoice.collection_method = collection_method
    invoice.days_until_due = days
    invoice.due_date = None if days is None else invoice.date + days * 86400
    invoice.auto_advance = advance if advance is not None else collection_method != "send_invoice"
    invoice.hosted_invoice_url = None
    return invoice


def _api_finalize(id: str, auto_advance: Any = None, **data: Any) -> Any:
    if data:
        raise UserError(400, "Received unknown parameters: " + ", ".join(data))
    invoice = r.Invoice._api_retrieve(id)
    if invoice.status != "draft":
        raise UserError(
            400, "This invoice is already finalized, you can't re-finalize a non-draft invoice."
        )
    invoice._finalize()
    invoice.hosted_invoice_url = f"https://invoice.stripe.com/i/acct_local/{invoice.id}"
    r.schedule_webhook(r.Event("invoice.finalized", invoice))
    return invoice


def _api_send(id: str, **data: Any) -> Any:
    if data:
        raise UserError(400, "Received unknown parameters: " + ", ".join(data))
    invoice = r.Invoice._api_retrieve(id)
    if getattr(invoice, "collection_method", "charge_automatically") != "send_invoice":
        raise UserError(
            400, "You can only manually send an invoice if its collection method is 'send_invoice'."
        )
    if invoice.status != "open":
        raise UserError(400, "You can only send an invoice that is open.")
    if not r.Customer._api_retrieve(invoice.customer).email:
        raise UserError(400, "The customer has no email address to send the invoice to.")
    r.schedule_webhook(r.Event("invoice.sent", invoice))
    return invoice


def _on_payment_success(self: Any) -> None:
    _paid(self)
    r.schedule_webhook(r.Event("invoice.paid", self))


def _remaining(self: Any) -> int:
    """What the invoice still asks for: nothing once paid, void or a draft; else its total
    less what credit notes took off before payment."""
    if self.status != "open":
        return 0
    return int(max(0, self.total - getattr(self, "_pre_credit", 0)))


class CreditNote(r.StripeObject):  # type: ignore[misc]
    object = "credit_note"
    _id_prefix = "cn_"

    def __init__(
        self,
        invoice: Any = None,
        amount: Any = None,
        memo: Any = None,
        metadata: Any = None,
        reason: Any = None,
        refund_amount: Any = None,
        credit_amount: Any = None,
        out_of_band_amount: Any = None,
        **data: Any,
    ) -> None:
        if data:
            raise UserError(400, "Received unknown parameters: " + ", ".join(data))
        if not isinstance(invoice, str):
            raise UserError(400, "Missing required param: invoice.")
        inv = r.Invoice._api_retrieve(invoice)
        if inv.status not in ("open", "paid"):
            raise UserError(400, "You can only create a credit note on a finalized invoice.")
        total = r.try_convert_to_int(amount)
        if not isinstance(total, int) or total <= 0:
            raise UserError(400, "One of `amount`, `lines`, or `shipping_cost` must be provided.")
        credited = getattr(inv, "_pre_credit", 0) + getattr(inv, "_post_credit", 0)
        if total > inv.total - credited:
            raise UserError(
                400, "The credit note's amount cannot exceed what is left of the invoice's total."
            )
        outside = [r.try_convert_to_int(x) or 0 for x in (refund_amount, credit_amount,
                                                          out_of_band_amount)]  # fmt: skip
        if not all(isinstance(x, int) and x >= 0 for x in outside):
            raise UserError(400, "Invalid integer amounts.")
        pre = min(total, _remaining(inv))
        post = total - pre
        if sum(outside) != post:
            raise UserError(
                400,
                "The sum of refund_amount, credit_amount and out_of_band_amount must equal the"
                f" credit note's post-payment amount ({post}).",
            )
        super().__init__()
        self.invoice = invoice
        self.customer = inv.customer
        self.currency = inv.currency
        self.amount = total
        self.total = total
        self.memo = memo
        self.reason = reason
        self.metadata = metadata or {}
        self.status = "issued"
        self.type = "post_payment" if post else "pre_payment"
        self.pre_payment_amount = pre
        self.post_payment_amount = post
        self.out_of_band_amount = outside[2]
        self.pdf = f"https://pay.stripe.com/credit_notes/acct_local/{self.id}/pdf"
        inv._pre_credit = getattr(inv, "_pre_credit", 0) + pre
        inv._post_credit = getattr(inv, "_post_credit", 0) + post
        r.schedule_webhook(r.Event("credit_note.created", self))


def _create_credit_note(**data: Any) -> Any:
    return CreditNote(**data)


def _retrieve_credit_note(id: str, **data: Any) -> Any:
    return CreditNote._api_retrieve(id)


def _list_credit_notes(invoice: Any = None, **data: Any) -> Any:
    found = r.List("/v1/credit_notes")
    notes = [v for k, v in r.store.items() if k.startswith("credit_note:")]
    found._list = [n for n in notes if invoice is None or n.invoice == invoice]
    return found


r.Invoice.amount_remaining = property(_remaining)
r.Invoice.pre_payment_credit_notes_amount = property(lambda self: getattr(self, "_pre_credit", 0))
r.Invoice.post_payment_credit_notes_amount = property(lambda self: getattr(self, "_post_credit", 0))
r.Invoice._api_create = classmethod(_api_create)
r.Invoice._on_payment_success = _on_payment_success
r.extra_apis.extend(
    (
        ("POST", "/v1/invoices/{id}/finalize", _api_finalize),
        ("POST", "/v1/invoices/{id}/send", _api_send),
        ("POST", "/v1/credit_notes", _create_credit_note),
        ("GET", "/v1/credit_notes/{id}", _retrieve_credit_note),
        ("GET", "/v1/credit_notes", _list_credit_notes),
    )
)
