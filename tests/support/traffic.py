"""Simulated hourly traffic for the spend anomaly tests: a month of a quiet account and of a
steadily growing one, by UTC hour, seeded so a failure replays."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta

from billing.trust.anomalies import Use

HOUR = timedelta(hours=1)


def _shape(at: datetime) -> float:
    """Working hours busy, nights at a twentieth, weekends at a third."""
    day = 0.05
    if 6 <= at.hour < 20:
        day += 0.95 * math.sin(math.pi * (at.hour - 6) / 14)
    return day / 3 if at.weekday() >= 5 else day


def month(kind: str, start: datetime, seed: int, days: int = 35) -> dict[datetime, Use]:
    """`quiet`: a few calls an hour, cents a day; `growing`: up to 250 calls ($2.50) an hour
    at a weekday's peak on day one, 2% more each day (3.2 times by day 59), noise of ±35%."""
    rng = random.Random(seed)
    out: dict[datetime, Use] = {}
    for n in range(days * 24):
        at = start + n * HOUR
        if kind == "quiet":
            calls = rng.choice((0, 0, 1, 2, 3, 5))
            out[at] = Use(calls, calls * 400)
            continue
        level = 250 * _shape(at) * 1.02 ** (n / 24) * rng.uniform(0.65, 1.35)
        calls = int(level)
        out[at] = Use(calls, calls * rng.randint(8_000, 12_000))
    return out
