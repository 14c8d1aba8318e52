"""The local payments provider: deterministic, offline, and shaped like a hosted provider.

Kept whole: one implementation of the payment port, with the pages its checkout serves, as a
hosted provider's would be.

Setup, top-up and plan checkout return URLs of pages the gateway itself serves
(/billing/local/...). Completing a page records provider objects and events exactly as a
hosted provider would, and the events go through services/money/payment/events.py, the path a
Stripe webhook takes. Card outcomes follow Stripe's test cards, so a demo or a test picks
its path: 4242... succeeds, 4000000000000002 is declined, 4000002500003155 needs
authentication (and is declined off-session, as a real card needing 3-D Secure would be).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from billing.money.plans import PlanBook
from billing.money.tax import Tax
from gateway.payments.local_objects import (
    BRAND,
    CARDS,
    DECLINED,
    NEEDS_AUTH,
    PERIOD,
    SUCCEEDS,
    event_kind,
    failure_of,
    invoice_of,
    iso,
    new_id,
    payment_event,
    payment_state,
    refund_state,
    subscription_state,
    utc_now,
)
from gateway.payments.signing import sign, verify_signature
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
    SubscriptionState,
    TaxAsked,
)
from gateway.stores.ports.money.payments import LocalProviderStorePort

PAGES = "/billing/local"
ZERO = timedelta(0)
DECLINED_STATUS = "declined"  # a checkout session's end when its card was declined


class LocalProvider:
    name = "local"

    def __init__(self, store: LocalProviderStorePort, plans: PlanBook, secret: str) -> None:
        self.store = store
        self.plans = plans
        self.secret = secret

    async def close(self) -> None:
        """Nothing to close: the local provider holds no connections of its own."""

    # ---- the port: pages and actions

    async def ensure_customer(self, account_id: str, known: str | None) -> str:
        if known:
            return known
        customer = new_id("cus")
        doc = {"id": customer, "account_id": account_id, "card": None}
        await self.store.put(customer, "customer", account_id, doc)
        return customer

    async def _session(
        self, account_id: str, customer: str, mode: str, back: str, **data: Any
    ) -> HostedPage:
        session = new_id("cs")
        doc = {"id": session, "mode": mode, "account_id": account_id, "customer": customer}
        doc["return_url"] = back
        await self.store.put(session, "session", account_id, {**doc, **data, "status": "open"})
        return HostedPage(f"{PAGES}/checkout/{session}", session)

    async def setup_page(self, account_id: str, customer: str, return_url: str) -> HostedPage:
        return await self._session(account_id, customer, "setup", return_url)

    async def topup_page(
        self, account_id: str, customer: str, amount_micros: int, return_url: str
    ) -> HostedPage:
        return await self._session(
            account_id, customer, "payment", return_url, amount_micros=amount_micros
        )

    async def subscribe_page(
        self, account_id: str, customer: str, plan: str, return_url: str
    ) -> HostedPage:
        return await self._session(account_id, customer, "subscription", return_url, plan=plan)

    async def portal_page(self, account_id: str, customer: str, return_url: str) -> HostedPage:
        """A portal session, like Stripe's: its own id, the customer and where to go back."""
        portal = new_id("bps")
        doc = {"id": portal, "customer": customer, "return_url": return_url}
        await self.store.put(portal, "portal_session", account_id, doc)
        return HostedPage(f"{PAGES}/portal/{portal}", portal)

    async def charge_saved_method(
        self, account_id: str, customer: str, amount_micros: int, idempotency_key: str
    ) -> PaymentState:
        card = await self._card(customer)
        status = "succeeded" if card == SUCCEEDS else "failed"
        failure = None if status == "succeeded" else failure_of(card, off_session=True)
        payment = await self._payment(
            account_id, "auto_topup", amount_micros, status, failure, card
        )
        await self.emit(payment_event(status), payment["id"])
        return payment_state(payment)

    async def subscribe_now(self, account_id: str, customer: str, plan: str) -> SubscriptionState:
        card = await self._card(customer)
        sub = new_id("sub")
        doc = {"id": sub, "account_id": account_id, "customer": customer, "plan": plan}
        doc |= {"status": "incomplete", "period_end": iso(datetime.now(UTC) + PERIOD)}
        await self.store.put(sub, "subscription", account_id, doc)
        await self.emit("customer.subscription.created", sub)
        state, _ = await self._invoice_for(doc, card)
        return state

    async def change_plan(self, subscription_id: str, plan: str) -> SubscriptionState:
        doc = await self._doc(subscription_id)
        doc["plan"] = plan
        await self.store.put(subscription_id, "subscription", doc["account_id"], doc)
        await self.emit("customer.subscription.updated", subscription_id)
        return subscription_state(doc)

    async def cancel_subscription(self, subscription_id: str) -> SubscriptionState:
        doc = await self._doc(subscription_id)
        doc["status"] = "canceled"
        await self.store.put(subscription_id, "subscription", doc["account_id"], doc)
        await self.emit("customer.subscription.deleted", subscription_id)
        return subscription_state(doc)

    # ---- the port: re-fetching objects

    async def payment(self, object_id: str) -> PaymentState | None:
        doc = await self.store.get(object_id)
        if doc is not None and doc.get("mode") == "payment":
            doc = await self.store.get(doc.get("payment_id") or "")
        if doc is None or "purpose" not in doc:
            return None
        return payment_state(doc)

    async def setup(self, object_id: str) -> SetupState | None:
        doc = await self.store.get(object_id)
        if doc is None:
            return None
        customer = doc.get("customer") or doc["id"]
        account = (await self.store.get(customer) or {}).get("account_id") or doc.get("account_id")
        if not customer.startswith("cus_") or account is None:
            return None
        return SetupState(account, customer, await self._card(customer) is not None)

    async def subscription(self, object_id: str) -> SubscriptionState | None:
        doc = await self.store.get(object_id)
        if doc is not None and doc.get("mode") == "subscription":
            doc = await self.store.get(doc.get("subscription_id") or "")
        return None if doc is None or "plan" not in doc else subscription_state(doc)

    async def invoice(self, object_id: str) -> InvoiceState | None:
        doc = await self.store.get(object_id)
        if doc is None or "paid" not in doc:
            return None
        return InvoiceState(
            doc["id"], doc["account_id"], doc["subscription"], doc["paid"], not doc["paid"]
        )

    async def card(self, customer: str) -> CardOnFile | None:
        number = await self._card(customer)
        return None if number is None else CardOnFile(BRAND, number[-4:], 12, 2034)

    async def invoices(self, account_id: str, customer: str, limit: int) -> Sequence[Invoice]:
        docs = await self.store.of_account("invoice", account_id)
        return [invoice_of(doc) for doc in docs[:limit]]

    async def paid_with(self, object_id: str) -> CardOnFile | None:
        number = (await self.store.get(object_id) or {}).get("card")
        return CardOnFile(BRAND, str(number)[-4:]) if number else None

    async def refunds(self, object_id: str) -> Sequence[RefundState]:
        doc = await self.store.get(object_id)
        return [] if doc is None or "payment_id" not in doc else [refund_state(doc)]

    async def events_since(self, since: datetime) -> Sequence[ProviderEvent]:
        rows = await self.store.events_since(since)
        return [
            await self._event(r["id"], r["type"], r["object_id"], r["created_at"]) for r in rows
        ]

    async def payments_since(self, since: datetime) -> Sequence[PaymentState]:
        return [payment_state(d) for d in await self.store.of_kind("payment", since)]

    async def refunds_since(self, since: datetime) -> Sequence[RefundState]:
        return [refund_state(d) for d in await self.store.of_kind("refund", since)]

    async def send_invoice(self, customer: str, invoice: InvoiceToSend) -> SentInvoice:
        """Recorded as Stripe would hold it, open; no e-mail leaves a local gateway and no
        page takes its payment (docs/guides/invoices.md, "Sending")."""
        sent = new_id("in")
        doc: dict[str, Any] = {
            "id": sent, "account_id": invoice.account_id, "customer": customer,
            "number": invoice.number, "email": invoice.email, "currency": invoice.currency,
            "items": [list(i) for i in invoice.items], "total_minor": invoice.total_minor,
        }  # fmt: skip
        await self.store.put(sent, "sent_invoice", invoice.account_id, doc)
        return SentInvoice(sent, None, "open")

    async def send_credit_note(self, credit: CreditToSend) -> SentCredit:
        """Recorded against the invoice it corrects, as Stripe would hold it."""
        sent = new_id("cn")
        doc: dict[str, Any] = {
            "id": sent, "account_id": credit.account_id, "number": credit.number,
            "invoice": credit.provider_invoice_id, "amount_minor": credit.amount_minor,
            "reason": credit.reason,
        }  # fmt: skip
        await self.store.put(sent, "sent_credit_note", credit.account_id, doc)
        return SentCredit(sent, None)

    async def tax_rate(self, asked: TaxAsked) -> Tax:
        raise NotConfigured("the local payments provider computes no tax: Stripe Tax does")

    def verify(self, payload: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        """Events posted to /webhooks/local carry the Stripe-style signature scheme."""
        doc = verify_signature(payload, headers.get("Meterway-Signature", ""), [self.secret])
        created = datetime.fromtimestamp(int(doc["created"]), UTC)
        kind = event_kind(str(doc["type"]), doc.get("mode"))
        return ProviderEvent(str(doc["id"]), str(doc["type"]), kind, str(doc["object"]), created)  # type: ignore[arg-type]

    def signed(self, event: ProviderEvent) -> tuple[bytes, str]:
        """The body and signature header of an event, as /webhooks/local expects them."""
        return sign(
            {
                "id": event.id,
                "type": event.type,
                "object": event.object_id,
                "created": int(event.created.timestamp()),
                "mode": event.kind,
            },
            self.secret,
        )

    # ---- what the pages do

    async def complete(self, session_id: str, action: str, card: str) -> list[ProviderEvent]:
        """Pay, fail or cancel a checkout page; returns the events it produced, in order."""
        session = await self.store.claim(
            session_id, "open", "complete" if action != "cancel" else "expired"
        )
        if session is None:
            return []
        if action == "cancel":
            return [await self.emit("checkout.session.expired", session_id)]
        chosen = card if action == "pay" else DECLINED
        return await _COMPLETE[session["mode"]](self, session, chosen)

    async def _complete_setup(self, s: dict[str, Any], card: str) -> list[ProviderEvent]:
        if card == DECLINED:
            await self._declined(s)
            return [await self.emit("setup_intent.setup_failed", s["id"])]
        await self._save_card(s["customer"], card)
        return [await self.emit("checkout.session.completed", s["id"])]

    async def _complete_payment(self, s: dict[str, Any], card: str) -> list[ProviderEvent]:
        status = {SUCCEEDS: "succeeded", NEEDS_AUTH: "requires_action"}.get(card, "failed")
        failure = failure_of(card, off_session=False) if status == "failed" else None
        payment = await self._payment(
            s["account_id"], "topup", s["amount_micros"], status, failure, card
        )
        s["payment_id"] = payment["id"]
        if status == "failed":
            s["status"] = DECLINED_STATUS
        await self.store.put(s["id"], "session", s["account_id"], s)
        if status == "requires_action":
            return []
        events = [await self.emit(payment_event(status), payment["id"])]
        if status == "succeeded":
            events.append(await self.emit("checkout.session.completed", s["id"]))
        return events

    async def _complete_subscription(self, s: dict[str, Any], card: str) -> list[ProviderEvent]:
        if card != SUCCEEDS:
            await self._declined(s)
            return [await self.emit("checkout.session.async_payment_failed", s["id"])]
        await self._save_card(s["customer"], card)
        saved = await self.emit("payment_method.attached", s["customer"])
        state = await self.subscribe_now(s["account_id"], s["customer"], s["plan"])
        s["subscription_id"] = state.id
        await self.store.put(s["id"], "session", s["account_id"], s)
        return [saved, await self.emit("checkout.session.completed", s["id"])]

    async def authenticate(self, payment_id: str, ok: bool) -> list[ProviderEvent]:
        """The 3-D Secure step of a top-up: passing it pays, failing it declines."""
        status = "succeeded" if ok else "failed"
        doc = await self.store.claim(payment_id, "requires_action", status)
        if doc is None:
            return []
        if not ok:
            doc["failure"] = "authentication failed"
            await self.store.put(payment_id, "payment", doc["account_id"], doc)
        return [await self.emit(payment_event(status), payment_id)]

    async def renew(self, subscription_id: str) -> list[ProviderEvent]:
        """Bill the next period with the card on file (a demo's or test's renewal day)."""
        doc = await self._doc(subscription_id)
        _, events = await self._invoice_for(doc, await self._card(doc["customer"]))
        return events

    async def replace_card(self, customer: str, card: str) -> list[ProviderEvent]:
        """The portal's "save card": a setup, then a retry of a past-due subscription."""
        await self._save_card(customer, card)
        events = [await self.emit("setup_intent.succeeded", customer)]
        account = (await self.store.get(customer) or {}).get("account_id")
        for sub in await self.store.of_account("subscription", str(account)):
            if sub["status"] == "past_due":
                events += (await self._invoice_for(sub, card))[1]
        return events

    async def refund(
        self, payment_id: str, amount_micros: int, idempotency_key: str
    ) -> RefundState:
        """The refund's id comes from the key, so a repeat finds the first refund."""
        digest = hashlib.sha256(f"{payment_id}|{idempotency_key}".encode()).hexdigest()
        refund = f"re_local_{digest[:20]}"
        found = await self.store.get(refund)
        if found is None:
            doc = await self._doc(payment_id)
            found = {"id": refund, "account_id": doc["account_id"], "payment_id": payment_id}
            found["amount_micros"] = amount_micros
            await self.store.put(refund, "refund", doc["account_id"], found)
            await self.emit("charge.refunded", refund)
        return refund_state(found)

    async def refund_payment(self, payment_id: str) -> list[ProviderEvent]:
        """Refund what a succeeded payment has left, once, as Stripe's dashboard refunds a
        charge's remaining amount (never more than was paid)."""
        doc = await self.store.claim(payment_id, "succeeded", "refunded")
        if doc is None:
            return []
        done = await self.store.of_account("refund", doc["account_id"])
        left = doc["amount_micros"] - sum(
            int(r["amount_micros"]) for r in done if r.get("payment_id") == payment_id
        )
        if left <= 0:
            return []
        refund = new_id("re")
        data = {"id": refund, "account_id": doc["account_id"], "payment_id": payment_id}
        await self.store.put(refund, "refund", doc["account_id"], data | {"amount_micros": left})
        return [await self.emit("charge.refunded", refund)]

    async def portal(self, customer: str) -> dict[str, Any]:
        doc = await self._doc(customer)
        account = str(doc.get("account_id"))
        payments = await self.store.of_account("payment", account)
        subs = await self.store.of_account("subscription", account)
        return {"card": doc.get("card"), "payments": payments, "subscriptions": subs}

    # ---- helpers

    async def _declined(self, session: dict[str, Any]) -> None:
        """A checkout whose card was declined ends as such, not as complete."""
        session["status"] = DECLINED_STATUS
        await self.store.put(session["id"], "session", session["account_id"], session)

    async def emit(self, type_: str, object_id: str) -> ProviderEvent:
        event_id = new_id("evt")
        created = await self.store.add_event(event_id, type_, object_id)
        return await self._event(event_id, type_, object_id, created)

    async def _event(
        self, event_id: str, type_: str, object_id: str, created: datetime
    ) -> ProviderEvent:
        mode = None
        if type_.startswith("checkout.session"):
            mode = (await self.store.get(object_id) or {}).get("mode")
        return ProviderEvent(event_id, type_, event_kind(type_, mode), object_id, created)  # type: ignore[arg-type]

    async def _doc(self, object_id: str) -> dict[str, Any]:
        doc = await self.store.get(object_id)
        if doc is None:
            raise LookupError(object_id)
        return doc

    async def _card(self, customer: str) -> str | None:
        return (await self.store.get(customer) or {}).get("card")

    async def _save_card(self, customer: str, card: str) -> None:
        doc = await self._doc(customer)
        doc["card"] = card if card in CARDS else SUCCEEDS
        await self.store.put(customer, "customer", doc.get("account_id"), doc)

    async def _payment(
        self,
        account_id: str,
        purpose: str,
        amount: int,
        status: str,
        failure: str | None,
        card: str | None,
    ) -> dict[str, Any]:
        payment = new_id("pi")
        doc: dict[str, Any] = {"id": payment, "account_id": account_id, "purpose": purpose}
        doc |= {"amount_micros": amount, "status": status, "failure": failure, "card": card}
        await self.store.put(payment, "payment", account_id, doc)
        return doc

    async def _invoice_for(
        self, sub: dict[str, Any], card: str | None
    ) -> tuple[SubscriptionState, list[ProviderEvent]]:
        """Bill one period: the first makes the subscription active, a renewal extends it."""
        paid = card == SUCCEEDS
        invoice = new_id("in")
        data = {"id": invoice, "account_id": sub["account_id"], "subscription": sub["id"]}
        plan = self.plans.get(str(sub.get("plan")))
        data |= {"amount_micros": plan.price_micros if plan else 0, "created": iso(utc_now())}
        end = datetime.fromisoformat(sub["period_end"]) + (PERIOD if sub.get("renewed") else ZERO)
        data |= {"plan": sub.get("plan"), "card": card, "period_end": iso(end)}
        await self.store.put(invoice, "invoice", sub["account_id"], data | {"paid": paid})
        if paid:
            sub["status"] = "active"
            if sub.get("renewed"):
                sub["period_end"] = iso(datetime.fromisoformat(sub["period_end"]) + PERIOD)
            sub["renewed"] = True
        else:
            sub["status"] = "past_due" if sub.get("renewed") else "incomplete"
        await self.store.put(sub["id"], "subscription", sub["account_id"], sub)
        events = [
            await self.emit("invoice.paid" if paid else "invoice.payment_failed", invoice),
            await self.emit("customer.subscription.updated", sub["id"]),
        ]
        return subscription_state(sub), events


_COMPLETE = {
    "setup": LocalProvider._complete_setup,
    "payment": LocalProvider._complete_payment,
    "subscription": LocalProvider._complete_subscription,
}
