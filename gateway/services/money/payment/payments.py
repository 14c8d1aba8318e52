"""What a user does with billing: look, save a method, top up, change plan, auto top-up.

Called by the /v1/account/billing sub-app. Money only moves when the provider says a payment
succeeded, through services/money/payment/events.py; nothing here credits an account.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from billing.authority import Actor
from billing.money.next_step import Links, NextStep, decide, for_caller
from billing.money.payments import (
    PaymentRuleError,
    TopupLimits,
    parse_auto_topup,
    plan_move,
    purchasable,
)
from billing.money.plans import PlanBook
from gateway.services.money.credits import Posted
from gateway.services.money.next_steps import state_of
from gateway.services.money.payment.port import (
    HostedPage,
    Invoice,
    PaymentsProvider,
    ProviderUnavailable,
)
from gateway.services.money.plan_change import apply_plan
from gateway.services.money.usage_view import window_usage
from gateway.stores.ports import AuditLogPort, HotStorePort, LedgerPort, NotifyOutbox
from gateway.stores.ports.hot import shard_of
from gateway.stores.ports.money.payments import PaymentsStorePort, Profile
from gateway.stores.records import HotBalance, Row

BILLING_BASE = "/v1/account/billing"


@dataclass(frozen=True)
class PaymentsConfig:
    grace_days: int = 7
    limits: TopupLimits = field(default_factory=lambda: TopupLimits(1_000_000, 1_000_000_000))
    low_balance_micros: int = 1_000_000  # NOTIFY_BALANCE_LOW_MICROS: "about to be blocked"
    billing_url: str = ""  # BILLING_URL: an operator's own billing page
    public_url: str = ""  # PUBLIC_URL: links in notifications are sent in full on it


@dataclass
class Payments:
    """The payments use cases and everything they need; one per app."""

    provider: PaymentsProvider
    profiles: PaymentsStorePort
    ledger: LedgerPort
    store: HotStorePort
    plans: PlanBook
    config: PaymentsConfig
    outbox: NotifyOutbox | None = None  # None: notifications are not configured
    # The accounts' own low-balance lines (PUT /admin/v1/accounts/{id}/alerts), if any.
    thresholds: Callable[[Sequence[str]], Awaitable[dict[str, int]]] | None = None
    audit: AuditLogPort | None = None  # where changes made by provider events are recorded
    # Sign-up's card check (services/trial_gate.card_verified): a verified card's
    # fingerprint for an account; the trial it posted, if any.
    cards: Callable[[str, str], Awaitable[Posted | None]] | None = None
    # Invoices sent through the provider (services/invoice_sending): the one with this
    # provider id is paid, at this time; its number the first time, else None.
    invoice_paid: Callable[[str, datetime], Awaitable[str | None]] | None = None

    async def notify(
        self, account_id: str, event: str, data: dict[str, Any], occurrence: str
    ) -> None:
        """Queue a notification once per (event, occurrence); the notifier delivers it.
        Callers emit before they record what caused it, so a retried cause re-emits
        (a no-op) instead of losing it."""
        if self.outbox is not None:
            await self.outbox.emit(account_id, event, data, occurrence)

    async def now(self) -> datetime:
        """The gateway's one clock (Redis TIME, moved by the test clock), as a UTC time."""
        return datetime.fromtimestamp(await self.store.now_ms() / 1000, UTC)

    async def account(self, account_id: str) -> Any:
        """The account's ledger row; an account with a billing key always has one."""
        row = await self.ledger.get_account(account_id)
        if row is None:
            raise LookupError(f"no account {account_id}")
        return row

    async def profile(self, account_id: str, customer: str | None = None) -> Profile:
        """The account's billing profile, created on first use: with `customer` when an
        event already names the provider's customer, else with a new one."""
        found = await self.profiles.profile(account_id)
        if found is not None:
            return found
        customer = await self.provider.ensure_customer(account_id, customer)
        return await self.profiles.create_profile(account_id, self.provider.name, customer)

    async def overview(self, account_id: str, caller: Actor | None = None) -> dict[str, Any]:
        """The billing state and the next step as `caller` may take it (next_step.for_caller)."""
        account = await self.account(account_id)
        profile = await self.profiles.profile(account_id)
        hot = await self.store.money(account_id)
        quotas = await self.store.account_quotas(account_id)
        windows = await window_usage(self.store, shard_of(account_id), "a", account_id, quotas)
        step = await self.next_step(account, hot, windows, profile)
        return {
            "object": "billing",
            "account_id": account_id,
            "provider": self.provider.name,
            "plan": account["plan"],
            "mode": account["mode"],
            "billing_ready": account["billing_ready"],
            "balance_micros": (hot or (0, 0))[0],
            "held_micros": (hot or (0, 0))[1],
            "payment_method_on_file": bool(profile and profile.method_on_file),
            "subscription": _subscription(profile, account["plan"], self.plans.default),
            "card": await self.card(profile),
            "auto_topup": _auto(profile),
            "grace_period": _grace(profile),
            "next": for_caller(step, caller).json(),
        }

    async def next_step(
        self,
        account: Row,
        hot: HotBalance | None,
        windows: list[dict[str, Any]],
        profile: Profile | None = None,
    ) -> NextStep:
        """The account's one next step (billing.money.next_step.decide) from what was read."""
        if profile is None:
            profile = await self.profiles.profile(account["id"])
        low = self.config.low_balance_micros
        if self.thresholds is not None:
            low = (await self.thresholds([account["id"]])).get(account["id"], low)
        refusal = await self.store.last_refusal(account["id"])
        state = state_of(account, hot, windows, profile, low, refusal)
        return decide(state, self.plans, Links(self.config.billing_url, self.config.public_url))

    async def card(self, profile: Profile | None) -> dict[str, Any] | None:
        """The saved card's brand and last four, read from the provider (None while it is
        unreachable: the overview still answers)."""
        if profile is None or not profile.method_on_file:
            return None
        try:
            card = await self.provider.card(profile.customer_id)
        except ProviderUnavailable:
            return None
        return None if card is None else asdict(card)

    async def invoices(self, account_id: str, limit: int = 24) -> list[dict[str, Any]]:
        """The provider's invoices of this account (its plan's), newest first."""
        profile = await self.profiles.profile(account_id)
        if profile is None:
            return []
        found = await self.provider.invoices(account_id, profile.customer_id, limit)
        return [_invoice_json(i) for i in found]

    async def cancel(self, account_id: str, back: str) -> dict[str, Any]:
        """Cancel the plan's subscription: the account keeps its plan until the period it
        paid for ends, then moves to the default plan (a scheduled downgrade)."""
        profile = await self.profiles.profile(account_id)
        if profile is None or profile.subscription_id is None:
            raise PaymentRuleError("There is no subscription to cancel.")
        return await self.change_plan(account_id, self.plans.default, back)

    # `back` is where the person returns after the hosted page: absolute, already checked
    # against the allowed origins (config/return_urls.py).
    async def setup(self, account_id: str, back: str) -> HostedPage:
        profile = await self.profile(account_id)
        return await self.provider.setup_page(account_id, profile.customer_id, back)

    async def topup(self, account_id: str, amount: object, back: str) -> HostedPage:
        micros = self.config.limits.check(amount)
        profile = await self.profile(account_id)
        return await self.provider.topup_page(account_id, profile.customer_id, micros, back)

    async def portal(self, account_id: str, back: str) -> HostedPage:
        profile = await self.profile(account_id)
        return await self.provider.portal_page(account_id, profile.customer_id, back)

    async def set_auto_topup(self, account_id: str, body: object) -> dict[str, Any] | None:
        setting = parse_auto_topup(body, self.config.limits)
        profile = await self.profile(account_id)
        if setting is not None and not profile.method_on_file:
            raise PaymentRuleError("Save a payment method first (POST .../billing/setup).")
        if profile.auto_off_reason is not None:  # turned back on, or off for good
            last = await self.profiles.last_failed_auto_charge(account_id)
            data = {"enabled": setting is not None}
            await self.notify(account_id, "auto_topup.disabled.resolved", data, last or account_id)
        await self.profiles.set_auto_topup(account_id, setting)
        await self.store.set_auto_threshold(
            account_id, setting.threshold_micros if setting else None
        )
        return _auto(await self.profiles.profile(account_id))

    async def history(self, account_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The account's payments (top-ups, automatic or not), newest first, each with
        what has been refunded of it."""
        rows = await self.profiles.payments(account_id, limit)
        refunded = await self.profiles.refund_claims.refunded(account_id, [r["id"] for r in rows])
        return [
            {
                "id": r["id"],
                "purpose": r["purpose"],
                "amount_micros": r["amount_micros"],
                "refunded_micros": refunded.get(r["id"], 0),
                "status": r["status"],
                "failure": r["failure"],
                "created_at": r["created_at"].isoformat(),
            }
            for r in rows
        ]

    async def change_plan(self, account_id: str, name: object, back: str) -> dict[str, Any]:
        """Upgrade now, downgrade at period end; a checkout page when no method is on file."""
        plan = purchasable(self.plans, name)
        account = await self.account(account_id)
        move = plan_move(self.plans, account["plan"], plan.name)
        profile = await self.profile(account_id)
        if move == "same":
            await self.profiles.set_pending_plan(account_id, None)
            return {"status": "unchanged", "plan": plan.name}
        if move == "upgrade" and not profile.method_on_file:
            page = await self.provider.subscribe_page(
                account_id, profile.customer_id, plan.name, back
            )
            return {"status": "checkout", "url": page.url, "id": page.id, "plan": plan.name}
        if move == "downgrade" and profile.subscription_id is not None:
            await self.profiles.set_pending_plan(account_id, plan.name)
            when = profile.period_end.isoformat() if profile.period_end else None
            return {"status": "scheduled", "plan": plan.name, "effective_at": when}
        return await self._change_now(account_id, profile, plan.name)

    async def _change_now(self, account_id: str, profile: Profile, plan: str) -> dict[str, Any]:
        target = self.plans.plans[plan]
        if target.price_micros == 0:
            if profile.subscription_id:
                await self.provider.cancel_subscription(profile.subscription_id)
            await self.profiles.set_subscription(account_id, None, None, None, None)
        else:
            if profile.subscription_id:
                sub = await self.provider.change_plan(profile.subscription_id, plan)
            else:
                sub = await self.provider.subscribe_now(account_id, profile.customer_id, plan)
            if sub.status not in ("active", "trialing"):
                raise PaymentRuleError(f"The plan payment did not go through ({sub.status}).")
            await self.profiles.set_subscription(
                account_id, sub.id, sub.status, sub.period_end, None
            )
        await self.profiles.set_pending_plan(account_id, None)
        account = await self.account(account_id)
        await apply_plan(
            self.ledger, self.store, account_id, target, billing_ready=account["billing_ready"]
        )
        return {"status": "changed", "plan": plan}


def _subscription(profile: Profile | None, plan: str, default: str) -> dict[str, Any] | None:
    """The plan's subscription: it renews at the period's end unless a downgrade is pending
    (to the default plan: it is cancelled, and ends then)."""
    if profile is None or profile.subscription_id is None:
        return None
    end = profile.period_end.isoformat() if profile.period_end else None
    ending = profile.pending_plan == default
    live = profile.subscription_status in ("active", "trialing")
    return {
        "id": profile.subscription_id,
        "plan": plan,
        "status": profile.subscription_status,
        "current_period_end": end,
        "renews_at": end if live and profile.pending_plan is None else None,
        "cancels_at": end if ending else None,
        "pending_plan": profile.pending_plan,
    }


def _invoice_json(invoice: Invoice) -> dict[str, Any]:
    """An invoice as the API lists it (the plan and period a receipt reads stay out)."""
    shown = asdict(invoice) | {"created": invoice.created.isoformat()}
    return {k: v for k, v in shown.items() if k not in ("plan", "period")}


def _auto(profile: Profile | None) -> dict[str, Any] | None:
    if profile is None or (profile.auto_topup is None and profile.auto_off_reason is None):
        return None
    setting = profile.auto_topup
    return {
        "enabled": setting is not None and profile.auto_off_reason is None,
        "threshold_micros": setting.threshold_micros if setting else None,
        "amount_micros": setting.amount_micros if setting else None,
        "monthly_cap_micros": setting.monthly_cap_micros if setting else None,
        "failures": profile.auto_failures,
        "off_reason": profile.auto_off_reason,
    }


def _grace(profile: Profile | None) -> dict[str, Any] | None:
    if profile is None or profile.grace_until is None:
        return None
    return {
        "reason": "payment_failed",
        "ends_at": profile.grace_until.isoformat(),
        "url": f"{BILLING_BASE}/portal",
    }
