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

from billing.payments import AUTO_TOPUP_MAX_FAILURES, grace_until
from gateway.services.credits import post_credit
from gateway.services.payments import Payments
from gateway.services.payments_port import PaymentState, ProviderEvent, SubscriptionState
from gateway.services.plan_change import apply_plan
from gateway.stores.records import EventRef

log = logging.getLogger("meterway.payments")
ACTIVE = ("active", "trialing")


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
        return "credited" if posted.created else "already credited"
    if state.status == "failed":
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
    await p.profile(state.account_id)
    await p.profiles.set_method_on_file(state.account_id, state.method_on_file, ref)
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
    return f"plan {target.name}"


async def _invoice(p: Payments, event: ProviderEvent, ref: EventRef) -> str:
    invoice = await p.provider.invoice(event.object_id)
    if invoice is None or invoice.subscription_id is None:
        await p.profiles.record_event(ref)
        return "not a subscription invoice"
    if invoice.paid:
        await close_grace(p, invoice.account_id, ref)
        return "grace closed"
    if invoice.failed:
        await open_grace(p, invoice.account_id, await p.now(), ref)
        return "grace opened"
    await p.profiles.record_event(ref)
    return "open invoice"


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
    refund = await p.provider.refund(event.object_id)
    if refund is None or refund.amount_micros <= 0:
        await p.profiles.record_event(ref)
        return "nothing refunded"
    posted = await post_credit(
        p.ledger,
        p.store,
        refund.account_id,
        -refund.amount_micros,
        refund.id,
        f"{event.kind} of {refund.payment_id}",
        kind="refund",
        event=ref,
    )
    return "refunded" if posted.created else "already refunded"


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
