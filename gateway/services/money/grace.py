"""Time-driven billing changes: grace periods that ran out, downgrades due at period end.

`tick(now)` is run by a background loop on the gateway's clock; tests move that clock and
call it, rather than sleeping.
"""

from __future__ import annotations

import logging
from datetime import datetime

from billing.money.payments import GRACE_ENDING_NOTICE, grace_key
from gateway.services.audit import record_system
from gateway.services.money.payment.events import close_grace, plan_event
from gateway.services.money.payment.payments import BILLING_BASE, Payments
from gateway.services.money.plan_change import apply_plan

log = logging.getLogger("meterway.payments")


async def tick(p: Payments, now: datetime) -> list[str]:
    """Apply everything due at `now`; returns what it did, one line per account."""
    await _notice_endings(p, now)
    done = []
    for account_id in await p.profiles.graces_over(now):
        await _grace_over(p, account_id)
        done.append(f"{account_id}: grace over, plan {p.plans.default}")
    for account_id, plan in await p.profiles.downgrades_due(now):
        await _downgrade(p, account_id, plan)
        done.append(f"{account_id}: downgraded to {plan}")
    return done


async def _notice_endings(p: Payments, now: datetime) -> None:
    """grace_period.ending once per grace period, a day before it ends (the outbox drops
    the repeats of later ticks)."""
    if p.outbox is None:
        return
    for account_id, until in await p.profiles.graces_ending(now + GRACE_ENDING_NOTICE):
        portal = f"{p.config.public_url}{BILLING_BASE}/portal"  # read in a mail: in full
        data = {"ends_at": until.isoformat(), "url": portal}
        await p.notify(account_id, "grace_period.ending", data, grace_key(account_id, until))


async def _grace_over(p: Payments, account_id: str) -> None:
    """Unpaid at the end of grace: the subscription ends and the account drops to default."""
    profile = await p.profile(account_id)
    if profile.subscription_id:
        await p.provider.cancel_subscription(profile.subscription_id)
    await p.profiles.set_subscription(account_id, None, None, None, None)
    await p.profiles.set_pending_plan(account_id, None)
    await close_grace(p, account_id, None)
    await _apply(p, account_id, p.plans.default)


async def _downgrade(p: Payments, account_id: str, plan: str) -> None:
    profile = await p.profile(account_id)
    target = p.plans.plans[plan]
    if profile.subscription_id and target.price_micros == 0:
        await p.provider.cancel_subscription(profile.subscription_id)
        await p.profiles.set_subscription(account_id, None, None, None, None)
    elif profile.subscription_id:
        sub = await p.provider.change_plan(profile.subscription_id, plan)
        await p.profiles.set_subscription(account_id, sub.id, sub.status, sub.period_end, None)
    await p.profiles.set_pending_plan(account_id, None)
    await _apply(p, account_id, plan)


async def _apply(p: Payments, account_id: str, plan: str) -> None:
    account = await p.account(account_id)
    await apply_plan(
        p.ledger, p.store, account_id, p.plans.plans[plan], billing_ready=account["billing_ready"]
    )
    await record_system(p.audit, "grace period", plan_event(account, plan))
