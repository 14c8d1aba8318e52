"""The Stripe adapter: the only module that imports `stripe`.

Kept whole: the one module that imports `stripe`, one method per call of the payment port;
the wire's shapes are stripe_wire.py.

Amounts cross as cents (1 cent = 10,000 micros). Every object carries the Meterway account id
in its metadata (customer, PaymentIntent, subscription), so an event can be tied to an account
by re-fetching its object, never by trusting the event body. Subscription items are sent as
`plan` (a Price id is accepted there by Stripe, and it is what localstripe, the stateful test
server, understands).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import stripe

from billing.money.plans import PlanBook
from billing.money.tax import Tax
from gateway.config.return_urls import with_params
from gateway.payments.stripe_wire import (
    MICROS_PER_CENT,
    card_of,
    error_message,
    event_of,
    get,
    id_of,
    invoice_of,
    payment_state,
    tax_of_calculation,
    when,
)
from gateway.scrubbing import kept
from gateway.services.money.payment.port import (
    CardOnFile,
    CreditToSend,
    HostedPage,
    Invoice,
    InvoiceNotSent,
    InvoiceState,
    InvoiceToSend,
    PaymentState,
    ProviderEvent,
    ProviderUnavailable,
    RefundState,
    SentCredit,
    SentInvoice,
    SetupState,
    SignatureInvalid,
    SubscriptionState,
    TaxAsked,
    UnknownObject,
)

TOLERANCE_S = 300
TAX_PROBE_MINOR = 100_000  # the one line a rate is asked for (any amount names the rate)


class StripeProvider:
    name = "stripe"

    def __init__(
        self,
        api_key: str,
        webhook_secrets: Sequence[str],
        plans: PlanBook,
        *,
        api_base: str | None = None,
    ) -> None:
        addresses: Any = {"api": api_base} if api_base else None
        self.http = stripe.AIOHTTPClient()
        self.client = stripe.StripeClient(api_key, base_addresses=addresses, http_client=self.http)
        self.v1: Any = self.client.v1
        self.secrets = tuple(webhook_secrets)
        self._scrubbed = (api_key, *self.secrets)  # what Stripe's answers must not repeat
        self.plans = plans
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
        except stripe.InvalidRequestError as exc:
            said = kept(error_message(exc), self._scrubbed)
            if exc.http_status == 404:
                raise UnknownObject(said, exc.http_status) from exc
            raise ProviderUnavailable(said, exc.http_status) from exc
        except stripe.StripeError as exc:  # a connection error has no status: no answer
            said = kept(error_message(exc), self._scrubbed)
            raise ProviderUnavailable(said, exc.http_status) from exc

    async def ensure_customer(self, account_id: str, known: str | None) -> str:
        if known:
            return known
        customer = await self._call(
            self.v1.customers.create_async,
            metadata={"account_id": account_id},
            options={"idempotency_key": f"customer-{account_id}"},
        )
        return str(customer.id)

    async def _session(
        self, account_id: str, customer: str, mode: str, back: str, **extra: Any
    ) -> HostedPage:
        session = await self._call(
            self.v1.checkout.sessions.create_async,
            mode=mode,
            customer=customer,
            success_url=with_params(back, [("checkout", "success")], template=True),
            cancel_url=with_params(back, [("checkout", "cancel")]),
            metadata={"account_id": account_id},
            **extra,
        )
        return HostedPage(str(session.url), str(session.id))

    async def setup_page(self, account_id: str, customer: str, return_url: str) -> HostedPage:
        return await self._session(
            account_id,
            customer,
            "setup",
            return_url,
            currency="usd",
            payment_method_types=["card"],
        )

    async def topup_page(
        self, account_id: str, customer: str, amount_micros: int, return_url: str
    ) -> HostedPage:
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
            return_url,
            line_items=[item],
            payment_intent_data={"metadata": meta, "setup_future_usage": "off_session"},
        )

    async def subscribe_page(
        self, account_id: str, customer: str, plan: str, return_url: str
    ) -> HostedPage:
        price = self.plans.plans[plan].stripe_price
        return await self._session(
            account_id,
            customer,
            "subscription",
            return_url,
            line_items=[{"price": price, "quantity": 1}],
            subscription_data={"metadata": {"account_id": account_id}},
        )

    async def portal_page(self, account_id: str, customer: str, return_url: str) -> HostedPage:
        session = await self._call(
            self.v1.billing_portal.sessions.create_async,
            customer=customer,
            return_url=return_url,
        )
        return HostedPage(str(session.url), str(session.id))

    async def _default_method(self, customer: str) -> str | None:
        found = await self._call(self.v1.customers.retrieve_async, customer)
        method = id_of(get(found, "invoice_settings", "default_payment_method"))
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
            intent_id = id_of(get(exc.error, "payment_intent"))
            reason = str(get(exc.error, "code") or "card_declined")
            return PaymentState(
                intent_id or idempotency_key,
                account_id,
                "auto_topup",
                amount_micros,
                "failed",
                reason,
            )
        state = payment_state(intent)
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

    async def refund(
        self, payment_id: str, amount_micros: int, idempotency_key: str
    ) -> RefundState:
        payment = await self.payment(payment_id)
        if payment is None:
            raise UnknownObject(f"no top-up {payment_id}")
        made = await self._call(
            self.v1.refunds.create_async,
            payment_intent=payment_id,
            amount=amount_micros // MICROS_PER_CENT,
            options={"idempotency_key": idempotency_key},
        )
        amount = int(made.amount) * MICROS_PER_CENT
        return RefundState(str(made.id), payment.account_id, payment.id, amount)

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

    async def payment(self, object_id: str) -> PaymentState | None:
        if object_id.startswith("cs_"):
            session = await self._call(self.v1.checkout.sessions.retrieve_async, object_id)
            object_id = id_of(get(session, "payment_intent")) or ""
        if not object_id.startswith("pi_"):
            return None
        return payment_state(await self._call(self.v1.payment_intents.retrieve_async, object_id))

    async def _account_of(self, customer: str) -> str | None:
        found = await self._call(self.v1.customers.retrieve_async, customer)
        return get(found, "metadata", "account_id")  # type: ignore[no-any-return]

    async def setup(self, object_id: str) -> SetupState | None:
        customer, method, verified = await self._setup_target(object_id)
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
        fingerprint = await self._fingerprint(verified) if verified else None
        return None if account is None else SetupState(account, customer, on_file, fingerprint)

    async def _fingerprint(self, method: str) -> str | None:
        """`payment_method.card.fingerprint`: Stripe's one value per card number."""
        found = await self._call(self.v1.payment_methods.retrieve_async, method)
        value = get(found, "card", "fingerprint")
        return str(value) if value else None

    async def _setup_target(self, object_id: str) -> tuple[str | None, str | None, str | None]:
        """(customer, method to make the default, method a succeeded SetupIntent verified)
        behind a checkout, setup intent or method."""
        if object_id.startswith("cs_"):
            session = await self._call(self.v1.checkout.sessions.retrieve_async, object_id)
            intent = id_of(get(session, "setup_intent"))
            if intent is None:
                return id_of(get(session, "customer")), None, None
            object_id = intent
        if object_id.startswith("seti_"):
            found = await self._call(self.v1.setup_intents.retrieve_async, object_id)
            method = id_of(get(found, "payment_method"))
            verified = method if get(found, "status") == "succeeded" else None
            return id_of(get(found, "customer")), method, verified
        if object_id.startswith("pm_"):
            found = await self._call(self.v1.payment_methods.retrieve_async, object_id)
            return id_of(get(found, "customer")), None, None
        return None, None, None

    async def _subscription_state(self, sub: Any) -> SubscriptionState:
        item = sub["items"].data[0]
        price = id_of(get(item, "price")) or id_of(get(item, "plan")) or ""
        account = get(sub, "metadata", "account_id") or await self._account_of(
            str(id_of(sub.customer))
        )
        end = get(sub, "current_period_end") or get(item, "current_period_end")
        return SubscriptionState(
            str(sub.id), str(account), self.price_plan.get(price), str(sub.status), when(end)
        )

    async def subscription(self, object_id: str) -> SubscriptionState | None:
        if object_id.startswith("cs_"):
            session = await self._call(self.v1.checkout.sessions.retrieve_async, object_id)
            object_id = id_of(get(session, "subscription")) or ""
        if not object_id.startswith("sub_"):
            return None
        sub = await self._call(self.v1.subscriptions.retrieve_async, object_id)
        return await self._subscription_state(sub)

    async def invoice(self, object_id: str) -> InvoiceState | None:
        inv = await self._call(self.v1.invoices.retrieve_async, object_id)
        account = await self._account_of(str(id_of(inv.customer)))
        if account is None:
            return None
        paid = inv.status == "paid"
        failed = not paid and bool(get(inv, "attempted")) and inv.status == "open"
        subscription = id_of(get(inv, "subscription")) or id_of(
            get(inv, "parent", "subscription_details", "subscription")
        )
        return InvoiceState(str(inv.id), account, subscription, paid, failed)

    async def card(self, customer: str) -> CardOnFile | None:
        method = await self._default_method(customer)
        if method is None:
            return None
        return card_of(await self._call(self.v1.payment_methods.retrieve_async, method))

    async def invoices(self, account_id: str, customer: str, limit: int) -> Sequence[Invoice]:
        listed = await self._call(self.v1.invoices.list_async, customer=customer, limit=limit)
        plans = {p.stripe_price: p.name for p in self.plans.plans.values() if p.stripe_price}
        return [invoice_of(inv, plans) for inv in listed.data]

    async def paid_with(self, object_id: str) -> CardOnFile | None:
        """The card of a PaymentIntent, or of the one that paid an invoice."""
        if object_id.startswith("in_"):
            invoice = await self._call(self.v1.invoices.retrieve_async, object_id)
            object_id = id_of(get(invoice, "payment_intent")) or ""
        if not object_id.startswith("pi_"):
            return None
        intent = await self._call(self.v1.payment_intents.retrieve_async, object_id)
        method = id_of(get(intent, "payment_method"))
        if not method:
            return None
        return card_of(await self._call(self.v1.payment_methods.retrieve_async, method))

    async def refunds(self, object_id: str) -> Sequence[RefundState]:
        if object_id.startswith(("dp_", "du_")):
            return [r for r in [await self._dispute(object_id)] if r is not None]
        if object_id.startswith("re_"):
            found = await self._call(self.v1.refunds.retrieve_async, object_id)
            object_id = id_of(get(found, "charge")) or ""
        charge = await self._call(self.v1.charges.retrieve_async, object_id)
        return await self._charge_refunds(charge)

    async def _charge_refunds(self, charge: Any) -> list[RefundState]:
        """Each succeeded (or pending) refund of a charge, keyed by the refund's own id."""
        if not int(get(charge, "amount_refunded") or 0):
            return []
        payment = await self.payment(id_of(get(charge, "payment_intent")) or "")
        if payment is None:
            return []
        listed = await self._call(self.v1.refunds.list_async, charge=str(charge.id), limit=100)
        return [
            RefundState(str(r.id), payment.account_id, payment.id, int(r.amount) * MICROS_PER_CENT)
            async for r in listed.auto_paging_iter()
            if get(r, "status") in ("succeeded", "pending")
        ]

    async def _dispute(self, object_id: str) -> RefundState | None:
        found = await self._call(self.v1.disputes.retrieve_async, object_id)
        lost = found.status == "lost" or found.status.startswith("needs_response")
        payment = await self.payment(id_of(get(found, "payment_intent")) or "")
        if payment is None or not lost:
            return None
        amount = int(found.amount) * MICROS_PER_CENT
        return RefundState(object_id, payment.account_id, payment.id, amount)

    async def events_since(self, since: datetime) -> Sequence[ProviderEvent]:
        page = await self._call(
            self.v1.events.list_async, created={"gte": int(since.timestamp())}, limit=100
        )
        found = [event_of(e) async for e in page.auto_paging_iter()]
        return sorted((e for e in found if e is not None), key=lambda e: e.created)

    async def _charges_since(self, since: datetime) -> list[Any]:
        """Charges are listed by date (`created[gt]`: what every Stripe server filters on)."""
        page = await self._call(
            self.v1.charges.list_async, created={"gt": int(since.timestamp()) - 1}, limit=100
        )
        return [c async for c in page.auto_paging_iter()]

    async def payments_since(self, since: datetime) -> Sequence[PaymentState]:
        states = []
        for charge in await self._charges_since(since):
            intent = id_of(get(charge, "payment_intent"))
            state = await self.payment(intent) if intent else None
            if state is not None:
                states.append(state)
        return list({s.id: s for s in states}.values())  # retried charges: one payment

    async def refunds_since(self, since: datetime) -> Sequence[RefundState]:
        found = [await self._charge_refunds(c) for c in await self._charges_since(since)]
        return [r for refunds in found for r in refunds]

    async def send_invoice(self, customer: str, invoice: InvoiceToSend) -> SentInvoice:
        """Stripe Invoicing: the items, then an invoice gathering them (sent for payment,
        `send_invoice`), checked against the invoice's total before it is finalized and
        sent. Every call carries an idempotency key of the invoice's number, so a retry
        after a failure (within Stripe's 24 hours) makes no second item or invoice."""
        key = f"meterway-invoice-{invoice.number}"
        meta = {"meterway_invoice": invoice.number, "account_id": invoice.account_id}
        await self._call(self.v1.customers.update_async, customer, email=invoice.email)
        currency = invoice.currency.lower()
        for position, (text, amount) in enumerate(invoice.items, start=1):
            await self._call(
                self.v1.invoice_items.create_async,
                customer=customer, currency=currency, amount=amount, description=text,
                metadata=meta, options={"idempotency_key": f"{key}-item-{position}"},
            )  # fmt: skip
        draft = await self._call(
            self.v1.invoices.create_async,
            customer=customer, collection_method="send_invoice",
            days_until_due=invoice.days_until_due, auto_advance=False,
            pending_invoice_items_behavior="include", description=invoice.number,
            metadata=meta, options={"idempotency_key": key},
        )  # fmt: skip
        if get(draft, "status") == "draft":
            total, said = int(get(draft, "total") or 0), str(get(draft, "currency") or "")
            if (total, said) != (invoice.total_minor, currency):
                await self._call(self.v1.invoices.delete_async, str(draft.id))
                raise InvoiceNotSent(
                    f"Stripe's draft for {invoice.number} came to {total} {said.upper()}, the"
                    f" invoice to {invoice.total_minor} {invoice.currency}: another pending"
                    " item of this customer joined it. Nothing was sent."
                )
            draft = await self._call(
                self.v1.invoices.finalize_invoice_async, str(draft.id), auto_advance=False
            )
        if get(draft, "status") == "open":
            draft = await self._call(self.v1.invoices.send_invoice_async, str(draft.id))
        return SentInvoice(
            str(draft.id), get(draft, "hosted_invoice_url"), str(get(draft, "status"))
        )

    async def tax_rate(self, asked: TaxAsked) -> Tax:
        """Stripe Tax's calculation for one line of `TAX_PROBE_MINOR` in the invoice's
        currency: the rate depends on who buys and what, not on the amount, and the invoice
        applies it to its own subtotal by its one rounding rule."""
        address: dict[str, str] = {"country": asked.country}
        if asked.address:
            address["line1"] = asked.address[0]
        details: dict[str, Any] = {"address": address, "address_source": "billing"}
        if asked.tax_id:
            details["tax_ids"] = [{"type": asked.tax_id_type, "value": asked.tax_id}]
        calc = await self._call(
            self.v1.tax.calculations.create_async,
            currency=asked.currency.lower(),
            line_items=[{"amount": TAX_PROBE_MINOR, "reference": "meterway-invoice-rate",
                         "tax_code": asked.tax_code}],
            customer_details=details,
        )  # fmt: skip
        return tax_of_calculation(calc)

    async def send_credit_note(self, credit: CreditToSend) -> SentCredit:
        """A Stripe credit note on the invoice it corrects, for its total. Stripe takes it
        off the invoice's `amount_remaining` first; the rest (the invoice was paid) must be
        refunded, credited to the Stripe balance or recorded as credited outside Stripe, and
        the last is what it is: Meterway's ledger settles the money (`out_of_band_amount`).
        One idempotency key of the credit note's number."""
        remote = await self._call(self.v1.invoices.retrieve_async, credit.provider_invoice_id)
        open_now = get(remote, "status") == "open"
        remaining = int(get(remote, "amount_remaining") or 0) if open_now else 0
        after = max(0, credit.amount_minor - remaining)
        memo = f"{credit.number} corrects {credit.invoice_number}"
        params: dict[str, Any] = {
            "invoice": credit.provider_invoice_id,
            "amount": credit.amount_minor,
            "memo": f"{memo}: {credit.reason}" if credit.reason else memo,
            "metadata": {"meterway_credit_note": credit.number, "account_id": credit.account_id},
        }
        if after:
            params["out_of_band_amount"] = after
        try:
            note = await self._call(
                self.v1.credit_notes.create_async, **params,
                options={"idempotency_key": f"meterway-credit-{credit.number}"},
            )  # fmt: skip
        except ProviderUnavailable as exc:
            if exc.status != 400:
                raise
            raise InvoiceNotSent(f"Stripe refused {credit.number}: {exc}") from exc
        return SentCredit(str(note.id), get(note, "pdf"))

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
            found = event_of(event)
            if found is not None:
                return found
        raise SignatureInvalid("no webhook secret verifies this signature")
