"""The Stripe adapter: the only module that imports `stripe`.

Amounts cross as cents (1 cent = 10,000 micros). Every object carries the Meterway account id
in its metadata (customer, PaymentIntent, subscription), so an event can be tied to an account
by re-fetching its object, never by trusting the event body. Subscription items are sent as
`plan` (a Price id is accepted there by Stripe, and it is what localstripe, the stateful test
server, understands).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import stripe

from billing.plans import PlanBook
from gateway.services.payments_port import (
    HostedPage,
    InvoiceState,
    PaymentState,
    ProviderEvent,
    ProviderUnavailable,
    RefundState,
    SetupState,
    SignatureInvalid,
    SubscriptionState,
)

MICROS_PER_CENT = 10_000
TOLERANCE_S = 300
KINDS = {
    "payment_intent.": "payment",
    "setup_intent.": "setup",
    "payment_method.": "setup",
    "customer.subscription.": "subscription",
    "invoice.": "invoice",
    "charge.refunded": "refund",
    "charge.dispute.": "dispute",
}
FAILED_PI = ("requires_payment_method", "canceled")


def _when(stamp: object) -> datetime | None:
    return datetime.fromtimestamp(int(str(stamp)), UTC) if stamp else None


def _get(obj: Any, *path: str) -> Any:
    for name in path:
        if obj is None:
            return None
        obj = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
    return obj


def _id(value: Any) -> str | None:
    """An expandable field: an id string or an object with an id."""
    if value is None or isinstance(value, str):
        return value
    return str(_get(value, "id"))


class StripeProvider:
    name = "stripe"

    def __init__(
        self,
        api_key: str,
        webhook_secrets: Sequence[str],
        plans: PlanBook,
        *,
        api_base: str | None = None,
        return_url: str = "/v1/account/billing",
    ) -> None:
        addresses: Any = {"api": api_base} if api_base else None
        self.http = stripe.AIOHTTPClient()
        self.client = stripe.StripeClient(api_key, base_addresses=addresses, http_client=self.http)
        self.v1: Any = self.client.v1
        self.secrets = tuple(webhook_secrets)
        self.plans = plans
        self.return_url = return_url
        self.price_plan = {p.stripe_price: p.name for p in plans.plans.values() if p.stripe_price}

    async def close(self) -> None:
        await self.http.close_async()  # type: ignore[no-untyped-call]

    async def _call(self, fn: Any, *args: Any, **params: Any) -> Any:
        options = params.pop("options", None)
        try:
            if options:
                return await fn(*args, params=params, options=options)
            return await fn(*args, params=params) if params else await fn(*args)
        except stripe.CardError:
            raise
        except stripe.StripeError as exc:
            raise ProviderUnavailable(str(exc)) from exc

    async def ensure_customer(self, account_id: str, known: str | None) -> str:
        if known:
            return known
        customer = await self._call(
            self.v1.customers.create_async,
            metadata={"account_id": account_id},
            options={"idempotency_key": f"customer-{account_id}"},
        )
        return str(customer.id)

    async def _session(self, account_id: str, customer: str, mode: str, **extra: Any) -> HostedPage:
        session = await self._call(
            self.v1.checkout.sessions.create_async,
            mode=mode,
            customer=customer,
            success_url=self.return_url + "?checkout=success",
            cancel_url=self.return_url + "?checkout=cancel",
            metadata={"account_id": account_id},
            **extra,
        )
        return HostedPage(str(session.url), str(session.id))

    async def setup_page(self, account_id: str, customer: str) -> HostedPage:
        return await self._session(
            account_id, customer, "setup", currency="usd", payment_method_types=["card"]
        )

    async def topup_page(self, account_id: str, customer: str, amount_micros: int) -> HostedPage:
        item = {
            "price_data": {
                "currency": "usd",
                "unit_amount": amount_micros // MICROS_PER_CENT,
                "product_data": {"name": "Meterway credit"},
            },
            "quantity": 1,
        }
        meta = {"account_id": account_id, "purpose": "topup"}
        return await self._session(
            account_id,
            customer,
            "payment",
            line_items=[item],
            payment_intent_data={"metadata": meta, "setup_future_usage": "off_session"},
        )

    async def subscribe_page(self, account_id: str, customer: str, plan: str) -> HostedPage:
        price = self.plans.plans[plan].stripe_price
        return await self._session(
            account_id,
            customer,
            "subscription",
            line_items=[{"price": price, "quantity": 1}],
            subscription_data={"metadata": {"account_id": account_id}},
        )

    async def portal_page(self, account_id: str, customer: str) -> HostedPage:
        session = await self._call(
            self.v1.billing_portal.sessions.create_async,
            customer=customer,
            return_url=self.return_url,
        )
        return HostedPage(str(session.url), str(session.id))

    async def _default_method(self, customer: str) -> str | None:
        found = await self._call(self.v1.customers.retrieve_async, customer)
        method = _id(_get(found, "invoice_settings", "default_payment_method"))
        if method:
            return method
        listed = await self._call(
            self.v1.payment_methods.list_async, customer=customer, type="card"
        )
        return str(listed.data[0].id) if listed.data else None

    async def charge_saved_method(
        self, account_id: str, customer: str, amount_micros: int, idempotency_key: str
    ) -> PaymentState:
        method = await self._default_method(customer)
        failed = PaymentState(
            idempotency_key, account_id, "auto_topup", amount_micros, "failed", "no method"
        )
        if method is None:
            return failed
        try:
            intent = await self._call(
                self.v1.payment_intents.create_async,
                amount=amount_micros // MICROS_PER_CENT,
                currency="usd",
                customer=customer,
                payment_method=method,
                off_session=True,
                confirm=True,
                metadata={"account_id": account_id, "purpose": "auto_topup"},
                options={"idempotency_key": idempotency_key},
            )
        except stripe.CardError as exc:
            intent_id = _id(_get(exc.error, "payment_intent"))
            reason = str(_get(exc.error, "code") or "card_declined")
            return PaymentState(
                intent_id or idempotency_key,
                account_id,
                "auto_topup",
                amount_micros,
                "failed",
                reason,
            )
        state = self._payment_state(intent)
        if state is not None and state.status == "requires_action":
            return PaymentState(
                state.id,
                account_id,
                "auto_topup",
                amount_micros,
                "failed",
                "authentication_required",
            )
        return state or failed

    async def subscribe_now(self, account_id: str, customer: str, plan: str) -> SubscriptionState:
        sub = await self._call(
            self.v1.subscriptions.create_async,
            customer=customer,
            items=[{"plan": self.plans.plans[plan].stripe_price}],
            metadata={"account_id": account_id},
        )
        return await self._subscription_state(sub)

    async def change_plan(self, subscription_id: str, plan: str) -> SubscriptionState:
        sub = await self._call(self.v1.subscriptions.retrieve_async, subscription_id)
        item = sub["items"].data[0].id
        updated = await self._call(
            self.v1.subscriptions.update_async,
            subscription_id,
            items=[{"id": item, "plan": self.plans.plans[plan].stripe_price}],
        )
        return await self._subscription_state(updated)

    async def cancel_subscription(self, subscription_id: str) -> SubscriptionState:
        sub = await self._call(self.v1.subscriptions.cancel_async, subscription_id)
        return await self._subscription_state(sub)

    # ---- re-fetching objects

    def _payment_state(self, intent: Any) -> PaymentState | None:
        meta = _get(intent, "metadata") or {}
        purpose = _get(meta, "purpose")
        if purpose not in ("topup", "auto_topup"):
            return None
        status = str(intent.status)
        error = _get(intent, "last_payment_error", "code")
        if status == "succeeded":
            mapped = "succeeded"
        elif status in FAILED_PI and (error or status == "canceled"):
            mapped = "failed"
        elif status == "requires_action":
            mapped = "requires_action"
        else:
            mapped = "pending"
        amount = int(intent.amount) * MICROS_PER_CENT
        return PaymentState(
            str(intent.id),
            str(_get(meta, "account_id")),
            purpose,
            amount,
            mapped,  # type: ignore[arg-type]
            str(error) if error else None,
        )

    async def payment(self, object_id: str) -> PaymentState | None:
        if object_id.startswith("cs_"):
            session = await self._call(self.v1.checkout.sessions.retrieve_async, object_id)
            object_id = _id(_get(session, "payment_intent")) or ""
        if not object_id.startswith("pi_"):
            return None
        return self._payment_state(
            await self._call(self.v1.payment_intents.retrieve_async, object_id)
        )

    async def _account_of(self, customer: str) -> str | None:
        found = await self._call(self.v1.customers.retrieve_async, customer)
        return _get(found, "metadata", "account_id")  # type: ignore[no-any-return]

    async def setup(self, object_id: str) -> SetupState | None:
        customer, method = await self._setup_target(object_id)
        if customer is None:
            return None
        if method is not None:
            await self._call(
                self.v1.customers.update_async,
                customer,
                invoice_settings={"default_payment_method": method},
            )
        account = await self._account_of(customer)
        on_file = await self._default_method(customer) is not None
        return None if account is None else SetupState(account, customer, on_file)

    async def _setup_target(self, object_id: str) -> tuple[str | None, str | None]:
        """(customer, method to make the default) behind a checkout, setup intent or method."""
        if object_id.startswith("cs_"):
            session = await self._call(self.v1.checkout.sessions.retrieve_async, object_id)
            intent = _id(_get(session, "setup_intent"))
            if intent is None:
                return _id(_get(session, "customer")), None
            object_id = intent
        if object_id.startswith("seti_"):
            found = await self._call(self.v1.setup_intents.retrieve_async, object_id)
            return _id(_get(found, "customer")), _id(_get(found, "payment_method"))
        if object_id.startswith("pm_"):
            found = await self._call(self.v1.payment_methods.retrieve_async, object_id)
            return _id(_get(found, "customer")), None
        return None, None

    async def _subscription_state(self, sub: Any) -> SubscriptionState:
        item = sub["items"].data[0]
        price = _id(_get(item, "price")) or _id(_get(item, "plan")) or ""
        account = _get(sub, "metadata", "account_id") or await self._account_of(
            str(_id(sub.customer))
        )
        end = _get(sub, "current_period_end") or _get(item, "current_period_end")
        return SubscriptionState(
            str(sub.id), str(account), self.price_plan.get(price), str(sub.status), _when(end)
        )

    async def subscription(self, object_id: str) -> SubscriptionState | None:
        if object_id.startswith("cs_"):
            session = await self._call(self.v1.checkout.sessions.retrieve_async, object_id)
            object_id = _id(_get(session, "subscription")) or ""
        if not object_id.startswith("sub_"):
            return None
        sub = await self._call(self.v1.subscriptions.retrieve_async, object_id)
        return await self._subscription_state(sub)

    async def invoice(self, object_id: str) -> InvoiceState | None:
        inv = await self._call(self.v1.invoices.retrieve_async, object_id)
        account = await self._account_of(str(_id(inv.customer)))
        if account is None:
            return None
        paid = inv.status == "paid"
        failed = not paid and bool(_get(inv, "attempted")) and inv.status == "open"
        subscription = _id(_get(inv, "subscription")) or _id(
            _get(inv, "parent", "subscription_details", "subscription")
        )
        return InvoiceState(str(inv.id), account, subscription, paid, failed)

    async def refund(self, object_id: str) -> RefundState | None:
        if object_id.startswith("dp_") or object_id.startswith("du_"):
            found = await self._call(self.v1.disputes.retrieve_async, object_id)
            lost = found.status == "lost" or found.status.startswith("needs_response")
            intent_id = _id(_get(found, "payment_intent"))
            amount = int(found.amount) * MICROS_PER_CENT if lost else 0
        else:
            charge = await self._call(self.v1.charges.retrieve_async, object_id)
            intent_id = _id(_get(charge, "payment_intent"))
            amount = int(charge.amount_refunded) * MICROS_PER_CENT
            object_id = f"{object_id}:{amount}"  # each cumulative refund level posts once
        payment = await self.payment(intent_id or "")
        if payment is None:
            return None
        return RefundState(object_id, payment.account_id, payment.id, amount)

    async def events_since(self, since: datetime) -> Sequence[ProviderEvent]:
        page = await self._call(
            self.v1.events.list_async, created={"gte": int(since.timestamp())}, limit=100
        )
        found = [self._event(e) async for e in page.auto_paging_iter()]
        return sorted((e for e in found if e is not None), key=lambda e: e.created)

    async def payments_since(self, since: datetime) -> Sequence[PaymentState]:
        page = await self._call(
            self.v1.payment_intents.list_async, created={"gte": int(since.timestamp())}, limit=100
        )
        states = [self._payment_state(i) async for i in page.auto_paging_iter()]
        return [s for s in states if s is not None and s.status == "succeeded"]

    def _event(self, event: Any) -> ProviderEvent | None:
        type_ = str(_get(event, "type"))
        obj = _get(event, "data", "object")
        kind: Any = "other"
        if type_.startswith("checkout.session."):
            kind = str(_get(obj, "mode"))
        else:
            kind = next((k for p, k in KINDS.items() if type_.startswith(p)), "other")
        return ProviderEvent(
            str(_get(event, "id")),
            type_,
            kind,
            str(_get(obj, "id")),
            _when(_get(event, "created")) or datetime.now(UTC),
        )

    def verify(self, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        """The official SDK checks the signature and the 300 s tolerance, for each secret."""
        header = headers.get("Stripe-Signature")
        for secret in self.secrets:
            try:
                event = stripe.Webhook.construct_event(payload, header, secret, TOLERANCE_S)
            except stripe.SignatureVerificationError:
                continue
            except ValueError as exc:
                raise SignatureInvalid("payload is not an event") from exc
            found = self._event(event)
            if found is not None:
                return found
        raise SignatureInvalid("no webhook secret verifies this signature")
