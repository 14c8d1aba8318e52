"""The runway walks a prepaid commitment's periods (billing/trust/runway.py): the committed share
unspent at a period's end leaves the balance (less what rolls over), the next period
credits its amount unless the commitment ends, and a commitment refusing calls once used up
ends the runway when its allowance does."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from billing.trust.runway import Committed, runway

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)  # the month's period ends in 4.5 days
DEC_1 = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp() * 1000)
WEEK = [10] * 7  # 10 micros a day


def _month(left: int, **terms: Any) -> Committed:
    return Committed(left, left, DEC_1, "month", 1000, **terms)


def test_each_period_credits_its_commitment_and_writes_off_what_it_left() -> None:
    r = runway(NOW, 1000, WEEK, commitment=_month(1000))
    assert r.days_left is None  # each month's $1,000 covers its 300-odd micros
    assert r.lost_micros > 950 + 690  # November's unspent 950, December's 690, ...
    assert runway(NOW, 1000, WEEK).days_left == 100  # as if it never ran out


def test_a_commitment_ending_with_its_period_leaves_the_own_money_after_it() -> None:
    r = runway(NOW, 1000 + 40, WEEK, commitment=_month(1000, ends_ms=DEC_1))
    assert (r.days_left, r.lost_micros) == (5 + 4, 950)


def test_what_rolls_over_stays() -> None:
    c = _month(1000, ends_ms=DEC_1, rollover_bps=5000, rollover_cap_micros=100)
    r = runway(NOW, 1000, WEEK, commitment=c)
    assert (r.days_left, r.lost_micros) == (5 + 10, 850)


def test_a_commitment_that_refuses_ends_the_runway_with_its_allowance() -> None:
    r = runway(NOW, 5000, WEEK, commitment=_month(30, refuse=True))
    assert (r.days_left, r.refused) == (3, True)
    assert "commitment is used up in about 3 days, and calls are refused after" in r.words
