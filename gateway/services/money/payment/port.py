"""The payments port: what Meterway asks of a payment provider, whichever one runs.

Three adapters implement it (gateway/payments/): Stripe, a local offline stand-in, and
`none` (no provider configured: every page and charge raises NotConfigured). The
use cases in services/ see only these types, so neither they nor the HTTP layer know which
provider is configured. Amounts are USD micros here; adapters convert to the provider's unit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from billing.money.tax import Tax

ObjectKind = Literal["payment", "setup", "subscription", "invoice", "refund", "dispute", "other"]
PaymentStatus = Literal["pending", "requires_action", "succeeded", "failed"]
Purpose = Literal["topup", "auto_topup"]


class SignatureInvalid(Exception):
    """A webhook whose signature does not verify, or whose timestamp is out of tolerance."""


class ProviderUnavailable(Exception):
    """The provider could not be reached (`status` None) or answered with an error we
    cannot act on (`status` its HTTP status, the message what it said)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    def said(self) -> str:
        """What a person is told: what the provider answered, or that it did not."""
        if self.status is None:
            return "The payment provider did not answer; nothing was charged."
        answer = " ".join(str(self).split())[:300]
        return f"The payment provider answered {self.status}: {answer} Nothing was charged."


class NotConfigured(Exception):
    """No payment provider is configured (PAYMENTS_PROVIDER unset): nothing can be paid for;
    the HTTP surfaces answer errors.PaymentsNotSetUp."""


class UnknownObject(ProviderUnavailable):
    """The provider answered that it has no object with this id."""


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """A provider event reduced to what applying it needs: which object to re-fetch."""

    id: str
    type: str
    kind: ObjectKind
    object_id: str
    created: datetime


@dataclass(frozen=True, slots=True)
class HostedPage:
    url: str
    id: str


@dataclass(frozen=True, slots=True)
class PaymentState:
    id: str
    account_id: str
    purpose: Purpose
    amount_micros: int
    status: PaymentStatus
    failure: str | None = None


@dataclass(frozen=True, slots=True)
class SetupState:
    account_id: str
    customer_id: str
    method_on_file: bool
    # The card a succeeded setup verified: the provider's fingerprint of its number (one
    # per card however often it is added), for sign-up's one trial per card; None when the
    # setup did not succeed or the provider gives none.
    card_fingerprint: str | None = None


@dataclass(frozen=True, slots=True)
class SubscriptionState:
    id: str
    account_id: str
    plan: str | None  # None when the provider's price maps to no plan
    status: str  # active | past_due | unpaid | canceled | incomplete | ...
    period_end: datetime | None


@dataclass(frozen=True, slots=True)
class InvoiceState:
    id: str
    account_id: str
    subscription_id: str | None
    paid: bool
    failed: bool


@dataclass(frozen=True, slots=True)
class RefundState:
    """A refund or a lost dispute: money that leaves the account's balance."""

    id: str
    account_id: str
    payment_id: str
    amount_micros: int


@dataclass(frozen=True, slots=True)
class CardOnFile:
    """The saved card as people recognise it: never more than brand and last four digits."""

    brand: str
    last4: str
    exp_month: int | None = None
    exp_year: int | None = None


@dataclass(frozen=True, slots=True)
class Invoice:
    """One of the customer's invoices, as the provider keeps it."""

    id: str
    number: str | None
    amount_micros: int
    status: str  # paid | open | void | uncollectible | draft
    created: datetime
    url: str | None  # the provider's page for it, if it has one
    plan: str | None = None  # the plan it bills, when it bills one of the gateway's plans
    period: tuple[datetime, datetime] | None = None  # the period it pays for


@dataclass(frozen=True, slots=True)
class InvoiceToSend:
    """An issued invoice as its provider bills it: each charged line and the tax as an
    item in the invoice's currency's minor units, so the provider's total is the invoice's
    to the minor unit (the provider computes no tax of its own)."""

    number: str  # INV-000042: the idempotency of every call that sends it
    account_id: str
    email: str  # where the provider sends it
    currency: str  # ISO 4217
    items: tuple[tuple[str, int], ...]  # (description, amount in minor units)
    total_minor: int
    days_until_due: int


@dataclass(frozen=True, slots=True)
class SentInvoice:
    id: str  # the provider's invoice id
    url: str | None  # the page where the customer reads and pays it
    status: str  # open | paid


@dataclass(frozen=True, slots=True)
class CreditToSend:
    """An issued credit note as its provider records it against the invoice it corrects,
    which the provider holds already: its total, tax included, in the currency's minor
    units. The provider takes it off what that invoice still asks for first; any rest (the
    invoice was paid) is recorded as credited outside the provider, since Meterway's own
    ledger settles it."""

    number: str  # CN-000043: the idempotency of the call that sends it
    invoice_number: str  # the invoice it corrects
    provider_invoice_id: str  # that invoice at the provider
    account_id: str
    amount_minor: int  # > 0
    reason: str


@dataclass(frozen=True, slots=True)
class SentCredit:
    id: str  # the provider's credit note id
    url: str | None  # its PDF at the provider, if it has one


@dataclass(frozen=True, slots=True)
class TaxAsked:
    """What a provider's tax service needs to name an invoice's rate (INVOICE_TAX=stripe):
    the customer's country and address, its tax id with the provider's type for it (empty
    for a consumer), the invoice's currency and the product's tax code."""

    country: str
    address: tuple[str, ...]
    tax_id: str
    tax_id_type: str
    currency: str
    tax_code: str


class InvoiceNotSent(Exception):
    """The provider's draft does not equal the invoice (another pending item joined it, a
    currency it does not take): nothing was sent, the draft is deleted."""


class PaymentsProvider(Protocol):
    name: str

    async def ensure_customer(self, account_id: str, known: str | None) -> str:
        """The provider's customer for this account, created on first use."""

    # Each hosted page takes `return_url`, the absolute address the person goes back to
    # (config/return_urls.py checked it): with ?checkout=success or cancel after a checkout.
    async def setup_page(self, account_id: str, customer: str, return_url: str) -> HostedPage: ...

    async def topup_page(
        self, account_id: str, customer: str, amount_micros: int, return_url: str
    ) -> HostedPage: ...

    async def subscribe_page(
        self, account_id: str, customer: str, plan: str, return_url: str
    ) -> HostedPage: ...

    async def portal_page(self, account_id: str, customer: str, return_url: str) -> HostedPage: ...

    async def charge_saved_method(
        self, account_id: str, customer: str, amount_micros: int, idempotency_key: str
    ) -> PaymentState:
        """Charge the saved method off-session; never raises for a declined card."""

    async def refund(
        self, payment_id: str, amount_micros: int, idempotency_key: str
    ) -> RefundState:
        """Refund (part of) a top-up now, once per idempotency key: a repeat answers the
        refund the key first made."""

    async def subscribe_now(
        self, account_id: str, customer: str, plan: str
    ) -> SubscriptionState: ...

    async def change_plan(self, subscription_id: str, plan: str) -> SubscriptionState: ...

    async def cancel_subscription(self, subscription_id: str) -> SubscriptionState: ...

    async def payment(self, object_id: str) -> PaymentState | None:
        """Re-fetch a payment (or the payment behind a checkout); None if not a top-up."""

    async def setup(self, object_id: str) -> SetupState | None: ...

    async def subscription(self, object_id: str) -> SubscriptionState | None: ...

    async def invoice(self, object_id: str) -> InvoiceState | None: ...

    async def card(self, customer: str) -> CardOnFile | None:
        """The saved card's brand and last four digits; None when none is saved."""

    async def invoices(self, account_id: str, customer: str, limit: int) -> Sequence[Invoice]:
        """The customer's invoices, newest first."""

    async def paid_with(self, object_id: str) -> CardOnFile | None:
        """The card a payment or a paid invoice was paid with, for its receipt; None when
        the provider does not say."""

    async def refunds(self, object_id: str) -> Sequence[RefundState]:
        """Every refund behind a charge, refund or dispute, each with its own id: two
        partial refunds of one payment are two entries."""

    async def events_since(self, since: datetime) -> Sequence[ProviderEvent]:
        """The provider's events since `since`, oldest first (for replay)."""

    async def payments_since(self, since: datetime) -> Sequence[PaymentState]:
        """Top-up payments (of any outcome) made since `since` (for reconcile)."""

    async def refunds_since(self, since: datetime) -> Sequence[RefundState]:
        """Refunds made since `since`, at least those of the payments made since then
        (for reconcile)."""

    async def send_invoice(self, customer: str, invoice: InvoiceToSend) -> SentInvoice:
        """Create the invoice at the provider with exactly these items, finalize it and send
        it to `invoice.email`; retried with the same invoice, it sends that one again.
        Raises InvoiceNotSent, NotConfigured (a provider that cannot send invoices) or
        ProviderUnavailable."""

    async def tax_rate(self, asked: TaxAsked) -> Tax:
        """The rate the provider's tax service charges this customer (Stripe Tax), its
        calculation named in `Tax.source`. Raises NotConfigured (a provider without one) or
        ProviderUnavailable (unreachable, or it refused the customer's details)."""

    async def send_credit_note(self, credit: CreditToSend) -> SentCredit:
        """Record the credit note against its invoice at the provider (which e-mails it to
        the customer); retried with the same credit note, it records that one again.
        Raises InvoiceNotSent (the provider refused it), NotConfigured or
        ProviderUnavailable."""

    def verify(self, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        """Check the signature and freshness of a webhook; raise SignatureInvalid."""

    async def close(self) -> None: ...
