"""A plan's trial: the credit grant a new account signing up on it receives (config/plans.toml's
`trial`), read and checked where the plans are loaded."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from billing.money.micros import MoneyFormatError, parse_usd

MAX_TRIAL_DAYS = 3650


@dataclass(frozen=True, slots=True)
class Trial:
    """A plan's gift to a new account: a `trial` grant of `amount_micros`, ending `days`
    after it is given, spent in `priority` order among the account's other grants."""

    amount_micros: int
    days: int
    priority: int = 10


def parse_trial(name: str, raw: object) -> Trial:
    """A plan's `trial = { amount = "5.00", days = 30, priority = 10 }`; ValueError."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"plan {name!r}: trial must be a table")
    unknown = sorted(set(raw) - {"amount", "days", "priority"})
    if unknown:
        raise ValueError(f"plan {name!r}: trial has unknown field(s) {unknown}")
    amount = raw.get("amount")
    try:
        micros = parse_usd(amount) if isinstance(amount, str) else -1
    except MoneyFormatError:
        micros = -1
    if micros <= 0:
        raise ValueError(f"plan {name!r}: trial amount must be a positive USD string")
    days, priority = raw.get("days", 30), raw.get("priority", 10)
    for field, value, top in (("days", days, MAX_TRIAL_DAYS), ("priority", priority, 1000)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= top:
            raise ValueError(f"plan {name!r}: trial {field} must be a whole number 1..{top}")
    assert isinstance(days, int) and isinstance(priority, int)
    return Trial(micros, days, priority)
