"""How long an account's credit lasts at its recent rate of spend, in whole days and words.

Integer arithmetic only: the rate is the spend of the last `days` days (the rollups' days,
today included), and the forecast is how many whole days the available credit covers at
that rate, rounded down, so a forecast never promises a day the credit does not hold.
"""

from __future__ import annotations

from dataclasses import dataclass

from billing.display import usd

WEEK_DAYS = 7
# Past a year a count of days is noise (a rate of a few micros a week gave "lasts
# 8,749,993 days"): the forecast says "more than a year" instead.
HORIZON_DAYS = 365


@dataclass(frozen=True, slots=True)
class Forecast:
    """`days_left` is None when there is nothing to forecast (no recent spend)."""

    available_micros: int
    spent_micros: int
    over_days: int
    days_left: int | None

    @property
    def words(self) -> str:
        return forecast_words(self)


def forecast(available_micros: int, spent_micros: int, over_days: int = WEEK_DAYS) -> Forecast:
    """Whole days `available_micros` lasts if `spent_micros` keeps being spent every
    `over_days` days: available * over_days // spent; 0 when the credit is used up; None
    when nothing was spent (no rate, no forecast)."""
    if over_days <= 0:
        raise ValueError("over_days must be positive")
    if spent_micros <= 0:
        days = None
    elif available_micros <= 0:
        days = 0
    else:
        days = available_micros * over_days // spent_micros
    return Forecast(available_micros, spent_micros, over_days, days)


def forecast_words(f: Forecast) -> str:
    """The forecast as a sentence: "At this week's rate ($7.00 over the last 7 days) your
    credit lasts 12 days." (whole days, rounded down), and the cases without a rate, without
    credit, with less than a day left, or with more than a year."""
    rate = f"{usd(f.spent_micros)} over the last {f.over_days} days"
    if f.days_left is None:
        return f"No spend in the last {f.over_days} days, so there is no forecast."
    if f.available_micros <= 0:
        return f"At this week's rate ({rate}) your credit is used up."
    if f.days_left == 0:
        return f"At this week's rate ({rate}) your credit lasts less than a day."
    if f.days_left > HORIZON_DAYS:
        return f"At this week's rate ({rate}) your credit lasts more than a year."
    plural = "day" if f.days_left == 1 else "days"
    return f"At this week's rate ({rate}) your credit lasts {f.days_left:,} {plural}."
