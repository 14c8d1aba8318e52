"""Payment decisions as plain values: top-up bounds, auto top-up, plan changes, grace.

Nothing here talks to a provider or a store; the payments service feeds these functions what
it read and acts on what they decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from billing.money.display import usd_exact
from billing.money.micros import MAX_EXACT
from billing.money.plans import Plan, PlanBook

AUTO_TOPUP_MAX_FAILURES = 3
MICROS_PER_CENT = 10_000  # cards are charged in whole cents
PlanMove = Literal["upgrade", "downgrade", "same"]


class PaymentRuleError(ValueError):
    """A request the rules refuse; the message is shown to the user, `param` names the field."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True, slots=True)
class TopupLimits:
    min_micros: int
    max_micros: int

    def check(self, amount: object) -> int:
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise PaymentRuleError(
                "'amount_micros' must be an integer number of USD micros.", "amount_micros"
            )
        if not self.min_micros <= amount <= self.max_micros:
            low, high = usd_exact(self.min_micros), usd_exact(self.max_micros)
            raise PaymentRuleError(
                f"A top-up must be between {low} and {high} "
                f"('amount_micros' {self.min_micros} to {self.max_micros}).",
                "amount_micros",
            )
        if amount % MICROS_PER_CENT:
            raise PaymentRuleError(
                f"A top-up must be whole cents, not {usd_exact(amount)} "
                "('amount_micros' a multiple of 10000).",
                "amount_micros",
            )
        return amount


@dataclass(frozen=True, slots=True)
class AutoTopup:
    threshold_micros: int
    amount_micros: int
    monthly_cap_micros: int


def parse_auto_topup(body: object, limits: TopupLimits) -> AutoTopup | None:
    """`null` turns auto top-up off; otherwise three whole amounts with amount <= cap."""
    if body is None:
        return None
    if not isinstance(body, dict):
        raise PaymentRuleError("Send an object or null.")
    values = []
    for name in ("threshold_micros", "amount_micros", "monthly_cap_micros"):
        value = body.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_EXACT:
            raise PaymentRuleError(f"'{name}' must be an integer from 0 to {MAX_EXACT}.", name)
        values.append(value)
    setting = AutoTopup(*values)
    limits.check(setting.amount_micros)
    if setting.monthly_cap_micros < setting.amount_micros:
        raise PaymentRuleError(
            "'monthly_cap_micros' must be at least 'amount_micros'.", "monthly_cap_micros"
        )
    return setting


def auto_topup_due(balance: int, setting: AutoTopup, charged_this_month: int) -> bool:
    """Charge when the balance fell under the threshold and the month's cap still allows it."""
    if balance >= setting.threshold_micros:
        return False
    return charged_this_month + setting.amount_micros <= setting.monthly_cap_micros


def month_start(now: datetime) -> datetime:
    """The calendar month the auto top-up cap counts in (UTC)."""
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def plan_move(plans: PlanBook, current: str, target: str) -> PlanMove:
    here, there = plans.get(current), plans.get(target)
    if here is None or there is None or here.rank == there.rank:
        return "same"
    return "upgrade" if there.rank > here.rank else "downgrade"


def arranged_with_sales(plans: PlanBook, plan: Plan) -> bool:
    """A plan with no price that is not the default one: set by the operator, never bought."""
    return plan.price_micros == 0 and plan.name != plans.default


def for_sale(plans: PlanBook) -> list[str]:
    """The plans a user may choose themselves, in upgrade order."""
    return [p.name for p in plans.plans.values() if not arranged_with_sales(plans, p)]


def purchasable(plans: PlanBook, name: object) -> Plan:
    """A plan a user may choose: the default (free) one or one with a price."""
    plan = plans.get(name) if isinstance(name, str) else None
    if plan is None:
        raise PaymentRuleError(f"Unknown plan {name!r}.", "plan")
    if arranged_with_sales(plans, plan):
        raise PaymentRuleError(
            f"The {plan.name} plan is arranged with sales, not bought here.", "plan"
        )
    return plan


def grace_until(failed_at: datetime, days: int) -> datetime:
    return failed_at + timedelta(days=days)


def grace_over(until: datetime | None, now: datetime) -> bool:
    return until is not None and now >= until


GRACE_ENDING_NOTICE = timedelta(days=1)  # grace_period.ending is sent this long before


def grace_key(account_id: str, until: datetime) -> str:
    """One grace period of one account: the dedup key of its notifications."""
    return f"{account_id}:{int(until.timestamp() * 1000)}"
