# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""Plans: named bundles of account quotas, billing mode and allowed models, in upgrade order.

The upgrade suggestion in a quota_exceeded answer is the first plan above the account's own
whose limit for the exhausted (window, metric) would have admitted the request.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from billing.money.micros import MoneyFormatError, parse_usd
from billing.money.quotas import Quota, QuotaSpecError, parse_quotas
from billing.money.trials import Trial, parse_trial

BillingMode = Literal["prepaid", "postpaid"]
OnInsufficient = Literal["refuse", "clamp"]


class PlanError(ValueError):
    """The plans file is invalid; raised at start-up."""


FIELDS = frozenset(
    {"mode", "on_insufficient", "models", "clamp_min_tokens", "quotas", "price", "stripe_price"}
    | {"markup_bps", "providers", "trial"}
)
MAX_MARKUP_BPS = 1_000_000  # 100x: a bound that keeps every marked-up amount exact in Lua


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    rank: int
    mode: BillingMode
    quotas: tuple[Quota, ...]
    models: frozenset[str]  # empty means every model
    on_insufficient: OnInsufficient = "refuse"
    clamp_min_tokens: int = 16
    price_micros: int = 0  # per month; 0 = free
    stripe_price: str = ""  # the Stripe Price id billed for this plan
    markup_bps: int = 0  # charged over provider cost, in basis points (2000 = +20 %)
    providers: frozenset[str] = frozenset()  # the only providers it may be served by; empty all
    trial: Trial | None = None  # the grant a new account signing up on it receives
    # A reviewed change of markup_bps approved and not in force yet: (bps, from ms).
    next_markup: tuple[int, int] | None = None

    def allows_model(self, model: str) -> bool:
        return not self.models or model in self.models

    def limit_for(self, window: str, metric: str) -> int | None:
        """The plan's limit, or None when the plan sets none (unlimited)."""
        for q in self.quotas:
            if q.window == window and q.metric == metric:
                return q.limit
        return None


@dataclass(frozen=True, slots=True)
class Upgrade:
    plan: str
    limit: int | None


@dataclass(frozen=True, slots=True)
class PlanBook:
    plans: Mapping[str, Plan]
    default: str

    def get(self, name: str) -> Plan | None:
        return self.plans.get(name)

    def install_markup(self, name: str, bps: int, scheduled: tuple[int, int] | None) -> None:
        """The plan's approved markup and the one approved to follow it (bps, from ms), in
        place: every holder of the book sees them (docs/concepts/markups.md). A plan the
        book does not have is left alone."""
        plan = self.plans.get(name)
        if plan is not None and isinstance(self.plans, MutableMapping):
            self.plans[name] = Plan(
                plan.name, plan.rank, plan.mode, plan.quotas, plan.models, plan.on_insufficient,
                plan.clamp_min_tokens, plan.price_micros, plan.stripe_price, bps, plan.providers,
                plan.trial, scheduled,
            )  # fmt: skip

    def upgrade_for(self, current: str, window: str, metric: str, needed: int) -> Upgrade | None:
        """The cheapest higher plan whose limit covers `needed` (used + requested)."""
        here = self.plans.get(current)
        rank = here.rank if here else -1
        for plan in sorted(self.plans.values(), key=lambda p: p.rank):
            if plan.rank <= rank:
                continue
            limit = plan.limit_for(window, metric)
            if limit is None or limit >= needed:
                return Upgrade(plan.name, limit)
        return None


def _plan(name: str, rank: int, entry: object) -> Plan:
    """One [plans.NAME] table. An unknown field fails the start, as in pricing.toml and
    meters.toml: a misspelt `quotas` would otherwise give the plan no limits at all."""
    if not isinstance(entry, Mapping):
        raise PlanError(f"plan {name!r} must be a table")
    unknown = sorted(set(entry) - FIELDS)
    if unknown:
        raise PlanError(f"plan {name!r}: unknown field(s) {unknown}")
    mode = entry.get("mode", "prepaid")
    if mode not in ("prepaid", "postpaid"):
        raise PlanError(f"plan {name!r}: mode must be prepaid or postpaid")
    on_insufficient = entry.get("on_insufficient", "refuse")
    if on_insufficient not in ("refuse", "clamp"):
        raise PlanError(f"plan {name!r}: on_insufficient must be refuse or clamp")
    models = entry.get("models", [])
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise PlanError(f"plan {name!r}: models must be a list of names")
    providers = entry.get("providers", [])
    if not isinstance(providers, list) or not all(isinstance(p, str) and p for p in providers):
        raise PlanError(f"plan {name!r}: providers must be a list of provider names")
    clamp_min = entry.get("clamp_min_tokens", 16)
    if isinstance(clamp_min, bool) or not isinstance(clamp_min, int) or clamp_min < 1:
        raise PlanError(f"plan {name!r}: clamp_min_tokens must be a positive whole number")
    try:
        quotas = parse_quotas(entry.get("quotas", []))
    except QuotaSpecError as exc:
        raise PlanError(f"plan {name!r}: {exc}") from exc
    price, stripe_price = _price(name, entry)
    try:
        markup = markup_bps(entry.get("markup_bps", 0))
        trial = parse_trial(name, entry["trial"]) if "trial" in entry else None
    except ValueError as bad:
        raise PlanError(str(bad) if "trial" in str(bad) else f"plan {name!r}: {bad}") from bad
    return Plan(
        name,
        rank,
        mode,
        quotas,
        frozenset(models),
        on_insufficient,
        clamp_min,
        price,
        stripe_price,
        markup,
        frozenset(providers),
        trial,
    )


def markup_bps(raw: object) -> int:
    """A markup in basis points: a whole number from 0 to MAX_MARKUP_BPS (not a bool)."""
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= MAX_MARKUP_BPS:
        raise ValueError(f"markup_bps must be a whole number from 0 to {MAX_MARKUP_BPS}")
    return raw


def resolved_markup(plan: Plan | None, override: int | None) -> int:
    """The markup an account is charged: its own when set, else its plan's."""
    if override is not None:
        return override
    return plan.markup_bps if plan else 0


def next_markup(
    plan: Plan | None, at: datetime | None, own: int | None, current: int | None = None
) -> tuple[int, int] | None:
    """A scheduled markup change as the hot record carries it: (the markup charged from
    `at`, resolved as `resolved_markup` does; `at` in ms), or None when none is scheduled.
    An account with no change of its own and no markup of its own (`current`) follows its
    plan's scheduled one."""
    if at is None:
        return plan.next_markup if plan is not None and current is None else None
    return resolved_markup(plan, own), int(at.timestamp() * 1000)


def scheduled_ms(scheduled: tuple[int, datetime] | None) -> tuple[int, int] | None:
    """A plan's scheduled markup (bps, from) as the plan book and hot records carry it."""
    return None if scheduled is None else (scheduled[0], int(scheduled[1].timestamp() * 1000))


def _price(name: str, entry: Mapping[str, object]) -> tuple[int, str]:
    """(monthly price in micros, Stripe Price id); prices are decimal USD strings."""
    raw, stripe_price = entry.get("price", "0"), entry.get("stripe_price", "")
    if not isinstance(raw, str) or not isinstance(stripe_price, str):
        raise PlanError(f"plan {name!r}: price and stripe_price must be strings")
    try:
        micros = parse_usd(raw)
    except MoneyFormatError as exc:
        raise PlanError(f"plan {name!r}: price {exc}") from exc
    if micros < 0:
        raise PlanError(f"plan {name!r}: price must not be negative")
    return micros, stripe_price


def parse_plans(doc: Mapping[str, object]) -> PlanBook:
    raw = doc.get("plans")
    if not isinstance(raw, dict) or not raw:
        raise PlanError("plans file has no [plans.*] tables")
    plans = {name: _plan(name, rank, entry) for rank, (name, entry) in enumerate(raw.items())}
    default = doc.get("default_plan", next(iter(plans)))
    if default not in plans:
        raise PlanError(f"default_plan {default!r} is not a plan")
    return PlanBook(plans, str(default))


def load_plans(path: Path) -> PlanBook:
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PlanError(f"cannot read plans {path}: {exc}") from exc
    return parse_plans(doc)
