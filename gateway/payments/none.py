"""No payment provider: what runs when PAYMENTS_PROVIDER is unset.

Nothing is free by default: every page, charge and subscription raises NotConfigured (the
HTTP surfaces answer 503 payments_not_set_up and hand out no URL), reads find nothing, and
no webhook verifies. An operator's credits do not pass through a provider and still work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import NoReturn

from billing.money.tax import Tax
from gateway.services.money.payment.port import (
    CardOnFile,
    CreditToSend,
    HostedPage,
    Invoice,
    InvoiceState,
    InvoiceToSend,
    NotConfigured,
    PaymentState,
    ProviderEvent,
    RefundState,
    SentCredit,
    SentInvoice,
    SetupState,
    SignatureInvalid,
    SubscriptionState,
    TaxAsked,
)

NAME = "none"


def _refuse() -> NoReturn:
    raise NotConfigured("no payment provider is configured (PAYMENTS_PROVIDER)")


class NoProvider:
    """The payments port with no provider behind it."""

    name = NAME

    async def ensure_customer(self, account_id: str, known: str | None) -> str:
        _refuse()

    async def setup_page(self, account_id: str, customer: str, return_url: str) -> HostedPage:
        _refuse()

    async def topup_page(
        self, account_id: str, customer: str, amount_micros: int, return_url: str
    ) -> HostedPage:
        _refuse()

    async def subscribe_page(
        self, account_id: str, customer: str, plan: str, return_url: str
    ) -> HostedPage:
        _refuse()

    async def portal_page(self, account_id: str, customer: str, return_url: str) -> HostedPage:
        _refuse()

    async def charge_saved_method(
        self, account_id: str, customer: str, amount_micros: int, idempotency_key: str
    ) -> PaymentState:
        _refuse()

    async def refund(
        self, payment_id: str, amount_micros: int, idempotency_key: str
    ) -> RefundState:
        _refuse()

    async def subscribe_now(self, account_id: str, customer: str, plan: str) -> SubscriptionState:
        _refuse()

    async def change_plan(self, subscription_id: str, plan: str) -> SubscriptionState:
        _refuse()

    async def cancel_subscription(self, subscription_id: str) -> SubscriptionState:
        _refuse()

    async def payment(self, object_id: str) -> PaymentState | None:
        return None

    async def setup(self, object_id: str) -> SetupState | None:
        return None

    async def subscription(self, object_id: str) -> SubscriptionState | None:
        return None

    async def invoice(self, object_id: str) -> InvoiceState | None:
        return None

    async def card(self, customer: str) -> CardOnFile | None:
        return None

    async def invoices(self, account_id: str, customer: str, limit: int) -> Sequence[Invoice]:
        return []

    async def paid_with(self, object_id: str) -> CardOnFile | None:
        return None

    async def refunds(self, object_id: str) -> Sequence[RefundState]:
        return []

    async def events_since(self, since: datetime) -> Sequence[ProviderEvent]:
        return []

    async def payments_since(self, since: datetime) -> Sequence[PaymentState]:
        return []

    async def refunds_since(self, since: datetime) -> Sequence[RefundState]:
        return []

    async def send_invoice(self, customer: str, invoice: InvoiceToSend) -> SentInvoice:
        raise NotConfigured(f"the {self.name} payments provider sends no invoices: Stripe does")

    async def send_credit_note(self, credit: CreditToSend) -> SentCredit:
        raise NotConfigured(f"the {self.name} payments provider sends no invoices: Stripe does")

    async def tax_rate(self, asked: TaxAsked) -> Tax:
        raise NotConfigured(f"the {self.name} payments provider computes no tax: Stripe Tax does")

    def verify(self, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        raise SignatureInvalid("no payment provider is configured")

    async def close(self) -> None:
        return None
