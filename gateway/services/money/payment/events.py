"""Applying provider events: the one code path from "the provider says" to the ledger.

The Stripe webhook, the local provider's pages, `meterway payments replay` and the auto
top-up all end here. An event only names an object; its state is re-fetched from the
provider, so events arriving twice, late or out of order all converge on what the provider
holds now. Credits are keyed by the payment's id and record the event in the same
transaction, so each payment reaches the ledger exactly once.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from billing.money.payments import (
    AUTO_TOPUP_MAX_FAILURES,
    GRACE_ENDING_NOTICE,
    grace_key,
    grace_until,
)
from gateway.services.audit import AuditEvent, record_system
from gateway.services.money.credits import post_credit
from gateway.services.money.payment.payments import Payments
from gateway.services.money.payment.port import (
    InvoiceState,
    PaymentState,
    ProviderEvent,
    RefundState,
    SubscriptionState,
)
from gateway.services.money.plan_change import apply_plan
from gateway.services.money.receipt_mail import send_receipt
from gateway.stores.records import EventRef, GrantSpec, MoneyOutHold, Row

log = logging.getLogger("meterway.payments")
ACTIVE = ("active", "trialing")
# Outcomes of apply_event that changed nothing: replay counts them as ignored, not applied.
NOTHING_DONE = frozenset(
    {
        "ignored",
        "not a top-up",
        "already credited",
        "unknown setup",
        "unknown subscription",
        "stale subscription",
        "not a subscription invoice",
        "open invoice",
        "nothing refunded",
        "already refunded",
    }
)


async def apply_event(p: Payments, event: ProviderEvent) -> str:
    """Apply one event (safe to repeat); returns what it did, for logs and replay output."""
    ref = EventRef(p.provider.name, event.id, event.type)
    handler = _HANDLERS.get(event.kind)
    if handler is None:
        await p.profiles.record_event(ref)
        return "ignored"
    return await handler(p, event, ref)


async def _payment(p: Payments, event: ProviderEvent, ref: EventRef) -> str:
    state = await p.provider.payment(event.object_id)
    if state is None:
        await p.profiles.record_event(ref)
        return "not a top-up"
    return await apply_payment(p, state, ref)


async def apply_payment(p: Payments, state: PaymentState, ref: EventRef | None) -> str:
    """Credit a succeeded payment once (key = payment id); record a failed one."""
    if state.status == "succeeded":
        reason = f"{state.purpose.replace('_', ' ')} {state.id}"
        posted = await post_credit(
            p.ledger, p.store, state.account_id, state.amount_micros, state.id, reason, event=ref
        )
        await p.profiles.record_payment(
            state.id, state.account_id, state.purpose, state.amount_micros, "succeeded", None
        )
        await send_receipt(p, state.account_id, state.id)  # once: the outbox keys it
        if posted.created:
            await record_system(p.audit, _via(ref), _credited(state, posted.entry_id))
        return "credited" if posted.created else "already credited"
    if state.status == "failed":
        data: dict[str, Any] = {"payment_id": state.id, "purpose": state.purpose}
        data |= {"amount_micros": state.amount_micros, "failure": state.failure}
        await p.notify(state.account_id, "payment.failed", data, state.id)
        if ref is not None:
            await p.profiles.record_event(ref)
        await p.profiles.record_payment(
            state.id, state.account_id, state.purpose, state.amount_micros, "failed", state.failure
        )
        return "failed"
    if ref is not None:
        await p.profiles.record_event(ref)
    return state.status


async def _setup(p: Payments, event: ProviderEvent, ref: EventRef) -> str:
    state = await p.provider.setup(event.object_id)
    if state is None:
        await p.profiles.record_event(ref)
        return "unknown setup"
    await p.profile(state.account_id, state.customer_id)
    await p.profiles.set_method_on_file(state.account_id, state.method_on_file, ref)
    method = AuditEvent(
        "payment.method",
        "account",
        state.account_id,
        state.account_id,
        None,
        {"method_on_file": state.method_on_file},
    )
    await record_system(p.audit, _via(ref), method)
    if state.card_fingerprint and p.cards is not None:
        posted = await p.cards(state.account_id, state.card_fingerprint)
        if posted is not None:
            after = {"amount_micros": posted.amount_micros, "entry_id": posted.entry_id}
            trial = AuditEvent(
                "signup.trial", "account", state.account_id, state.account_id, None, after
            )
            await record_system(p.audit, _via(ref), trial)
    account = await p.account(state.account_id)
    plan = p.plans.get(account["plan"])
    if plan is not None and account["mode"] == "postpaid" and state.method_on_file:
        await apply_plan(
            p.ledger, p.store, account["id"], plan, mode="postpaid", billing_ready=True
        )
    return "method saved" if state.method_on_file else "no method"


async def _subscription(p: Payments, event: ProviderEvent, ref: EventRef) -> str:
    sub = await p.provider.subscription(event.object_id)
    if sub is None:
        await p.profiles.record_event(ref)
        return "unknown subscription"
    return await apply_subscription(p, sub, ref)


async def apply_subscription(p: Payments, sub: SubscriptionState, ref: EventRef | None) -> str:
    """Follow the provider's subscription: its plan while active, the default when it ends."""
    profile = await p.profile(sub.account_id)
    if profile.subscription_id not in (None, sub.id) and sub.status not in ACTIVE:
        if ref is not None:
            await p.profiles.record_event(ref)
        return "stale subscription"
    account = await p.account(sub.account_id)
    if sub.status in ACTIVE and sub.plan is not None:
        await p.profiles.set_subscription(sub.account_id, sub.id, sub.status, sub.period_end, ref)
        target = p.plans.plans[sub.plan]
    elif sub.status in ("canceled", "incomplete_expired", "unpaid"):
        await p.profiles.set_subscription(sub.account_id, None, None, None, ref)
        target = p.plans.plans[p.plans.default]
    else:
        await p.profiles.set_subscription(sub.account_id, sub.id, sub.status, sub.period_end, ref)
        return sub.status
    if account["plan"] != target.name:
        await apply_plan(
            p.ledger, p.store, sub.account_id, target, billing_ready=account["billing_ready"]
        )
        await record_system(p.audit, _via(ref), plan_event(account, target.name))
    return f"plan {target.name}"


async def _invoice(p: Payments, event: ProviderEvent, ref: EventRef) -> str:
    invoice = await p.provider.invoice(event.object_id)
    if invoice is None or invoice.subscription_id is None:
        outcome = "not a subscription invoice"
        if invoice is not None and invoice.paid and p.invoice_paid is not None:
            number = await p.invoice_paid(invoice.id, event.created)
            outcome = f"{number} paid" if number else outcome
        await p.profiles.record_event(ref)
        return outcome
    sub = await p.provider.subscription(invoice.subscription_id)
    if invoice.paid:
        await _resolved(p, invoice)
        await close_grace(p, invoice.account_id, ref)
        await send_receipt(p, invoice.account_id, invoice.id)
        outcome = "grace closed"
    elif _failed_renewal(event, invoice, sub):
        data: dict[str, Any] = {"invoice_id": invoice.id, "purpose": "subscription"}
        data |= {"subscription_id": invoice.subscription_id}
        await p.notify(invoice.account_id, "payment.failed", data, invoice.id)
        await open_grace(p, invoice.account_id, await p.now(), ref)
        outcome = "grace opened"
    else:
        await p.profiles.record_event(ref)
        return "open invoice"
    if sub is not None:  # a provider may not send customer.subscription.updated for this
        await apply_subscription(p, sub, None)
    return outcome


async def _resolved(p: Payments, invoice: InvoiceState) -> None:
    """A paid invoice ends an open grace period: say so (once per grace period)."""
    profile = await p.profiles.profile(invoice.account_id)
    if profile is None or profile.grace_until is None:
        return
    key = grace_key(invoice.account_id, profile.grace_until)
    paid = {"invoice_id": invoice.id, "subscription_id": invoice.subscription_id}
    await p.notify(invoice.account_id, "payment.failed.resolved", paid, key)
    if await p.now() >= profile.grace_until - GRACE_ENDING_NOTICE:  # the notice went out
        ends = {"ends_at": profile.grace_until.isoformat()}
        await p.notify(invoice.account_id, "grace_period.ending.resolved", ends, key)


def _failed_renewal(
    event: ProviderEvent, invoice: InvoiceState, sub: SubscriptionState | None
) -> bool:
    """Grace is for a plan the account has: not for a first payment, nor an ended one."""
    if not invoice.failed or event.type != "invoice.payment_failed":
        return False
    return sub is None or sub.status not in ("incomplete", "incomplete_expired", "canceled")


async def open_grace(
    p: Payments, account_id: str, failed_at: datetime, ref: EventRef | None
) -> None:
    await p.profile(account_id)
    until = grace_until(failed_at, p.config.grace_days)
    await p.profiles.set_grace(account_id, until, ref)
    profile = await p.profiles.profile(account_id)
    assert profile is not None and profile.grace_until is not None
    await p.store.set_grace(account_id, int(profile.grace_until.timestamp() * 1000))


async def close_grace(p: Payments, account_id: str, ref: EventRef | None) -> None:
    await p.profile(account_id)
    await p.profiles.set_grace(account_id, None, ref)
    await p.store.set_grace(account_id, None)


async def _refund(p: Payments, event: ProviderEvent, ref: EventRef) -> str:
    found = [r for r in await p.provider.refunds(event.object_id) if r.amount_micros > 0]
    if not found:
        await p.profiles.record_event(ref)
        return "nothing refunded"
    posted = [await post_refund(p, r, f"{event.kind} of {r.payment_id}", ref) for r in found]
    for refund, new in zip(found, posted, strict=True):
        if new:
            after = {"payment_id": refund.payment_id, "amount_micros": refund.amount_micros}
            await record_system(
                p.audit,
                _via(ref),
                AuditEvent("refund.create", "refund", refund.id, refund.account_id, None, after),
            )
    return "refunded" if any(posted) else "already refunded"


async def post_refund(
    p: Payments,
    refund: RefundState,
    reason: str,
    ref: EventRef | None,
    hold: MoneyOutHold | None = None,
) -> bool:
    """A negative entry keyed by the refund's id, its owner told once (payment.refunded,
    queued first, keyed by the refund); True if it was new. `hold`: an operator's refund's
    money-out hold, dropped as the entry is applied."""
    paid = await p.profiles.payment(refund.account_id, refund.payment_id)
    data: dict[str, Any] = {"payment_id": refund.payment_id, "refund_id": refund.id}
    data |= {"amount_micros": refund.amount_micros}
    data |= {"payment_micros": paid["amount_micros"] if paid is not None else None}
    await p.notify(refund.account_id, "payment.refunded", data, refund.id)
    posted = await post_credit(
        p.ledger,
        p.store,
        refund.account_id,
        -refund.amount_micros,
        refund.id,
        reason,
        kind="refund",
        event=ref,
        grant=GrantSpec(refund_of=refund.payment_id),
        hold=None if hold is None else hold.hold_id,
    )
    return posted.created


async def note_auto_failure(p: Payments, account_id: str) -> None:
    failures = await p.profiles.release_auto_charge(
        account_id, failed=True, limit=AUTO_TOPUP_MAX_FAILURES
    )
    log.warning("auto top-up for %s failed (%d in a row)", account_id, failures)


_HANDLERS = {
    "payment": _payment,
    "setup": _setup,
    "subscription": _subscription,
    "invoice": _invoice,
    "refund": _refund,
    "dispute": _refund,
}


def _via(ref: EventRef | None) -> str:
    """How a change reached the ledger: a provider's event, or a sync of the provider."""
    return f"{ref.provider} event {ref.event_id}" if ref is not None else "payments sync"


def _credited(state: PaymentState, entry_id: int) -> AuditEvent:
    after = {"entry_id": entry_id, "amount_micros": state.amount_micros, "payment_id": state.id}
    return AuditEvent("credit.create", "ledger_entry", str(entry_id), state.account_id, None, after)


def plan_event(account: Row, plan: str) -> AuditEvent:
    """An account moved to `plan` by its subscription or its grace period's end."""
    before = {"plan": account["plan"], "mode": account["mode"]}
    after = {"plan": plan, "mode": account["mode"]}
    return AuditEvent("account.plan", "account", account["id"], account["id"], before, after)
