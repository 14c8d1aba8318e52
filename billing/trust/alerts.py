"""When an account's alerts fire and resolve: pure decisions with hysteresis.

Each alert has a key (e.g. "budget.threshold:month:80") and is active or not. It fires once
when its condition is crossed and resolves only when the account is clearly back on the
safe side (a balance clearly above its threshold, a window well below its limit), so a
value wobbling around a threshold does not fire again and again.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

BUDGET_LEVELS = (50, 80, 100)
RESOLVE_MARGIN_PCT = 10  # clearly above: threshold + 10% (at least one micro)
WINDOW_RESOLVE_PCT = 5  # a window resolves 5 points below the level that fired


@dataclass(frozen=True, slots=True)
class Check:
    """One alert's condition now: `firing` crosses it, `clear` is the safe side."""

    key: str
    event: str
    firing: bool
    clear: bool
    data: Mapping[str, Any] = field(default_factory=dict)
    alert_id: str | None = None  # a person's own alert: delivered to its target only


@dataclass(frozen=True, slots=True)
class Transition:
    key: str
    event: str  # e.g. "balance.low" or "balance.low.resolved"
    active: bool
    data: Mapping[str, Any]
    alert_id: str | None = None


@dataclass(frozen=True, slots=True)
class Window:
    window: str
    metric: str
    used: int
    limit: int


def balance_check(available_micros: int, threshold_micros: int) -> Check:
    rise = threshold_micros + max(threshold_micros * RESOLVE_MARGIN_PCT // 100, 1)
    data = {"balance_micros": available_micros, "threshold_micros": threshold_micros}
    return Check(
        "balance.low",
        "balance.low",
        available_micros < threshold_micros,
        available_micros >= rise,
        data,
    )


def runway_check(days_left: int | None, rate_micros: int, notify_days: int, words: str) -> Check:
    """`balance.runway`: at the recent rate the credit lasts `notify_days` days or fewer;
    clear once it lasts more than a day beyond, or there is no recent spend to forecast."""
    data = {"days_left": days_left, "rate_micros_per_day": rate_micros, "words": words}
    firing = rate_micros > 0 and days_left is not None and days_left <= notify_days
    clear = rate_micros == 0 or days_left is None or days_left > notify_days + 1
    return Check("balance.runway", "balance.runway", firing, clear, data)


def budget_checks(w: Window) -> list[Check]:
    """50/80/100% of a spend window."""
    out = []
    for level in BUDGET_LEVELS:
        data = {
            "window": w.window,
            "level_pct": level,
            "used_micros": w.used,
            "limit_micros": w.limit,
        }
        firing = w.limit > 0 and w.used * 100 >= level * w.limit
        clear = w.used * 100 < (level - WINDOW_RESOLVE_PCT) * w.limit
        out.append(
            Check(f"budget.threshold:{w.window}:{level}", "budget.threshold", firing, clear, data)
        )
    return out


def quota_check(w: Window) -> Check:
    data = {"window": w.window, "metric": w.metric, "used": w.used, "limit": w.limit}
    firing = w.used >= w.limit
    clear = w.used * 100 < (100 - WINDOW_RESOLVE_PCT) * w.limit
    return Check(f"quota.exhausted:{w.window}:{w.metric}", "quota.exhausted", firing, clear, data)


def account_checks(available: int, threshold: int, windows: Iterable[Window]) -> list[Check]:
    checks = [balance_check(available, threshold)]
    for w in windows:
        if w.metric == "spend_micros":
            checks += budget_checks(w)
        checks.append(quota_check(w))
    return checks


def transitions(checks: Iterable[Check], active: set[str]) -> list[Transition]:
    """Fire what crossed and was not active; resolve what is active and clearly safe."""
    out = []
    for c in checks:
        if c.firing and c.key not in active:
            out.append(Transition(c.key, c.event, True, c.data, c.alert_id))
        elif c.key in active and c.clear and not c.firing:
            out.append(Transition(c.key, f"{c.event}.resolved", False, c.data, c.alert_id))
    return out


@dataclass(frozen=True, slots=True)
class UserAlert:
    """An alert a person set on their own account: balance below, or spend above in a UTC
    day or calendar month."""

    id: str
    kind: str  # balance_below | spend_above
    amount_micros: int
    period: str | None = None  # spend_above: day | month


def user_checks(
    alerts: Iterable[UserAlert], available_micros: int, spend: Mapping[str, int]
) -> list[Check]:
    """Each alert's condition now; `spend` is the account's spend per period ("day",
    "month"). A balance alert resolves like balance.low (clearly above); a spend alert
    when its period starts over."""
    out = []
    for a in alerts:
        if a.kind == "balance_below":
            low = balance_check(available_micros, a.amount_micros)
            data = {**low.data, "alert_id": a.id}
            out.append(
                Check(f"user:{a.id}", "alert.balance_below", low.firing, low.clear, data, a.id)
            )
            continue
        spent = spend.get(a.period or "month", 0)
        data = {
            "alert_id": a.id,
            "period": a.period,
            "spend_micros": spent,
            "threshold_micros": a.amount_micros,
        }
        over = spent >= a.amount_micros
        out.append(Check(f"user:{a.id}", "alert.spend_above", over, not over, data, a.id))
    return out


def new_alert_id() -> str:
    return "alrt_" + secrets.token_hex(10)
