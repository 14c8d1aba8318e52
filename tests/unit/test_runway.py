"""Runway against simulated burn: constant (exact to the day), growing (the last day's rate
is used), spiky (a spike shortens it, one quiet day does not lengthen it), an expiring grant
(its unspent rest never extends it), auto top-up; and the promise the docs state, tried by
hypothesis: a credit spent at no more than the stated rate each day lasts at least the
stated days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from billing.money.credit_grants import Grant
from billing.trust.alert_words import describe
from billing.trust.alerts import runway_check, transitions
from billing.trust.runway import HORIZON_DAYS, TopUp, budget_runway, daily_rate, runway

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
USD = 1_000_000


def test_constant_burn_is_exact_to_the_day() -> None:
    r = runway(NOW, 10 * USD, [USD] * 7)
    assert (r.rate_micros, r.days_left, r.lost_micros) == (USD, 10, 0)
    assert r.words.endswith("your credit lasts about 10 days.")
    assert runway(NOW, 10 * USD - 1, [USD] * 7).days_left == 9  # never a day it does not hold


def test_growing_burn_takes_the_last_days_rate() -> None:
    assert daily_rate([1, 2, 3, 4, 5, 6, 7]) == 7
    assert runway(NOW, 70, [1, 2, 3, 4, 5, 6, 7]).days_left == 10


def test_a_spike_shortens_the_runway_and_a_quiet_day_does_not_lengthen_it() -> None:
    assert daily_rate([USD, USD, USD, 50 * USD, USD, USD, USD]) == 8 * USD
    assert daily_rate([USD] * 6 + [0]) == -(-6 * USD // 7)  # the average, rounded up


def test_an_expiring_grant_never_extends_the_runway() -> None:
    promo = Grant(1, "promotional", 6 * USD, ends_at=NOW + timedelta(days=2))
    r = runway(NOW, 10 * USD, [USD] * 7, [promo])
    # two days spend $2 of the promotion; its $4 left expires; $4 more lasts four days
    assert (r.days_left, r.lost_micros) == (6, 4 * USD)
    assert "$4.00 of credit expires unspent first" in r.words


def test_auto_top_up_says_when_the_next_one_is_due() -> None:
    r = runway(NOW, 10 * USD, [USD] * 7, top_up=TopUp(5 * USD, 20 * USD))
    assert r.top_up_in_days == 6  # $4 left after six days, under the $5 threshold
    assert "next automatic top-up is due in about 6 days" in r.words


def test_no_finer_than_it_knows() -> None:
    assert "about 2 weeks" in runway(NOW, 20 * USD, [USD] * 7).words
    assert "about 3 months" in runway(NOW, 100 * USD, [USD] * 7).words
    assert "more than a year" in runway(NOW, 400 * USD, [USD] * 7).words
    assert runway(NOW, USD // 2, [USD] * 7).words.endswith("runs out within a day.")
    assert runway(NOW, USD, [0] * 7).days_left is None


@settings(max_examples=300, deadline=None)
@given(
    available=st.integers(0, 500 * USD),
    history=st.lists(st.integers(0, 20 * USD), min_size=1, max_size=7),
    promo=st.integers(0, 100 * USD),
    ends=st.integers(1, 60),
    fractions=st.lists(st.integers(0, 100), min_size=HORIZON_DAYS, max_size=HORIZON_DAYS),
)
def test_spent_at_no_more_than_the_rate_it_lasts_at_least_the_stated_days(
    available: int, history: list[int], promo: int, ends: int, fractions: list[int]
) -> None:
    grants = [Grant(1, "promotional", min(promo, available), ends_at=NOW + timedelta(days=ends))]
    r = runway(NOW, available, history, grants)
    if r.days_left is None:
        return
    # The future: each day spends a share of the rate; the grant's rest goes at its end.
    balance, left, lasted = available, grants[0].remaining, 0
    for day, share in enumerate(fractions, start=1):
        if not grants[0].live_at(NOW + timedelta(days=day - 1)):
            balance, left = balance - min(left, balance), 0
        spend = r.rate_micros * share // 100
        if balance < spend:
            break
        balance, left, lasted = balance - spend, max(0, left - spend), day
    assert lasted >= r.days_left


def test_the_runway_alert_fires_at_the_days_and_clears_a_day_beyond() -> None:
    active: set[str] = set()
    seen = []
    for days in (5, 3, 2, 4, 5, 1, None):
        r = runway_check(days, 10 if days is not None else 0, 3, "words")
        for t in transitions([r], active):
            seen.append(t.event)
            active = active | {t.key} if t.active else active - {t.key}
    # fires at 3, stays through 4 (not clearly beyond), resolves at 5, fires again at 1,
    # resolves when there is no spend left to forecast
    assert seen == [
        "balance.runway",
        "balance.runway.resolved",
        "balance.runway",
        "balance.runway.resolved",
    ]
    title, sentence = describe("balance.runway", {"words": "At $1.00 a day, it lasts 2 days."})
    assert title == "Your credit runs out soon" and sentence.startswith("At $1.00 a day")


def test_a_spend_limit_lasts_until_it_resets_or_runs_out_before() -> None:
    day = 86_400_000
    early = budget_runway("month", 10 * USD, 4 * USD, USD, 10 * day)
    assert (early.days_left, early.before_reset) == (6, True)
    assert (
        early.words == "The spend per month limit of $10.00 runs out in about 6 days at this rate."
    )
    late = budget_runway("month", 10 * USD, 4 * USD, USD, 6 * day)  # six whole days covered
    assert not late.before_reset and late.words.endswith("lasts until it resets at this rate.")
    assert budget_runway("total", 10 * USD, 10 * USD, USD, None).days_left == 0
    assert "no forecast" in budget_runway("day", 10 * USD, 0, 0, day).words
