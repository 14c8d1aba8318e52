"""Commitments' arithmetic: periods, rates, and a period's close
(billing/contracts/commitments.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.contracts.commitments import (
    CommitmentInvalid,
    Terms,
    Tranche,
    allowance,
    applied_now,
    checked_terms,
    close,
    effective_bps,
    hot_terms,
    period_after,
    period_start,
    prepaid_share,
)
from billing.money.micros import charge, marked_up


def ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp() * 1000)


QUARTERLY = Terms(
    period="quarter",
    amount_micros=10_000_000_000,
    billing="prepaid",
    discount_bps=1000,
    rollover_bps=1000,
    rollover_cap_micros=500_000_000,
)


def test_periods_are_utc_calendar_months_quarters_and_years() -> None:
    at = ms(2026, 5, 17, 13, 5)
    assert period_start("month", at) == ms(2026, 5, 1)
    assert period_start("quarter", at) == ms(2026, 4, 1)
    assert period_start("year", at) == ms(2026, 1, 1)
    assert period_after("quarter", ms(2026, 10, 1)) == ms(2027, 1, 1)
    assert period_after("month", ms(2026, 12, 1), 2) == ms(2027, 2, 1)
    assert period_start("quarter", ms(2026, 7, 1) - 1) == ms(2026, 4, 1)


def test_a_discount_and_a_markup_make_one_rate_rounded_up() -> None:
    assert effective_bps(0, -1000) == -1000
    assert effective_bps(2000, -1000) == 800  # 1.2 x 0.9 = 1.08
    assert effective_bps(0, 2500) == 2500
    assert effective_bps(3333, -3333) == -1110  # 1.3333 x 0.6667 = 0.88891... up to 0.8890


@given(st.integers(0, 20_000), st.integers(-9_999, 100_000))
def test_the_combined_rate_never_undercharges(markup: int, adjust: int) -> None:
    rate = effective_bps(markup, adjust)
    exact = (10_000 + markup) * (10_000 + adjust)
    assert (10_000 + rate) * 10_000 >= exact
    assert (10_000 + rate - 1) * 10_000 < exact or rate == -9_999


@given(st.integers(0, 10**12), st.integers(0, 5000), st.integers(0, 9_999))
def test_a_discounted_call_is_charged_within_its_hold(micros: int, mk: int, d: int) -> None:
    rate = effective_bps(mk, -d)
    assert charge(micros * 9_000_000_000, rate) <= marked_up(micros, rate)


def test_terms_are_checked_field_by_field() -> None:
    terms = checked_terms({"period": "quarter", "amount_micros": 10_000_000_000})
    assert terms.billing == "prepaid" and terms.on_exhausted == "overage"
    assert checked_terms(terms.json()) == terms
    for body, field in (
        ({"period": "week", "amount_micros": 1}, "period"),
        ({"period": "month"}, "amount_micros"),
        ({"period": "month", "amount_micros": 0}, "amount_micros"),
        ({"period": "month", "amount_micros": 1, "discount_bps": 10_000}, "discount_bps"),
        ({"period": "month", "amount_micros": 1, "on_exhausted": "beg"}, "on_exhausted"),
        ({"period": "month", "amount_micros": 1, "rollover_periods": 0}, "rollover_periods"),
        ({"period": "month", "amount_micros": 1, "colour": "red"}, "colour"),
        ({"period": "month", "amount_micros": True}, "amount_micros"),
    ):
        with pytest.raises(CommitmentInvalid) as caught:
            checked_terms(body)
        assert caught.value.field == field


def test_hot_terms_name_the_discount_policy_and_overage() -> None:
    terms = Terms("month", 1, "arrears", 1500, "refuse", 2000)
    assert hot_terms(terms) == "1500:r:2000"


def test_a_used_up_quarter_charges_nothing_and_rolls_nothing() -> None:
    closing = close(QUARTERLY, ms(2026, 1, 1), 10_000_000_000, (), 12_000_000_000)
    assert closing.drawn_micros == 10_000_000_000
    assert closing.charged_micros == closing.rolled_micros == 0
    assert closing.carried == ()


def test_a_shortfall_is_charged_once_and_ten_percent_rolls_over_capped() -> None:
    closing = close(QUARTERLY, ms(2026, 1, 1), 10_000_000_000, (), 4_000_000_000)
    assert closing.charged_micros == 6_000_000_000
    assert closing.rolled_micros == 500_000_000  # 10% is 600, capped at 500
    assert closing.rolled_ends_ms == ms(2026, 7, 1)
    assert closing.carried == (Tranche(500_000_000, ms(2026, 7, 1)),)
    uncapped = Terms(
        "quarter", 10_000_000_000, "arrears", rollover_bps=1000, rollover_cap_micros=10**12
    )
    assert close(uncapped, ms(2026, 1, 1), 10_000_000_000, (), 4_000_000_000).rolled_micros == (
        600_000_000
    )


def test_rolled_money_is_drawn_first_and_expires_at_its_end() -> None:
    tranches = (Tranche(300, ms(2026, 7, 1)), Tranche(200, ms(2026, 10, 1)))
    terms = Terms("quarter", 1000, "prepaid", rollover_bps=0)
    closing = close(terms, ms(2026, 4, 1), 1000, tranches, 400)
    assert closing.from_rollover_micros == 400
    assert closing.expired_micros == 0
    assert closing.carried == (Tranche(100, ms(2026, 10, 1)),)
    assert closing.charged_micros == 1000
    unused = close(terms, ms(2026, 4, 1), 1000, tranches, 0)
    assert unused.expired_micros == 300 and unused.carried == (Tranche(200, ms(2026, 10, 1)),)


@given(
    st.integers(1, 10**10),
    st.lists(st.tuples(st.integers(0, 10**9), st.integers(1, 3)), max_size=4),
    st.integers(-10, 2 * 10**10),
    st.integers(0, 10_000),
    st.integers(0, 10**10),
    st.integers(1, 4),
)
def test_a_close_accounts_for_every_micro(
    committed: int,
    rolled: list[tuple[int, int]],
    drawn: int,
    bps: int,
    cap: int,
    periods: int,
) -> None:
    start = ms(2026, 4, 1)
    terms = Terms(
        "quarter",
        committed,
        "arrears",
        rollover_bps=bps,
        rollover_cap_micros=cap,
        rollover_periods=periods,
    )
    tranches = tuple(Tranche(a, period_after("quarter", start, n)) for a, n in rolled)
    closing = close(terms, start, committed, tranches, drawn)
    available = allowance(committed, tranches)
    assert closing.drawn_micros == min(max(drawn, 0), available)
    kept = sum(t.remaining_micros for t in closing.carried) - closing.rolled_micros
    # Everything available was drawn, charged, expired, or lives on.
    assert closing.drawn_micros + closing.charged_micros + closing.expired_micros + kept == (
        available
    )
    assert 0 <= closing.rolled_micros <= min(cap, closing.charged_micros)
    assert closing.charged_micros <= committed
    assert all(t.ends_ms > period_after("quarter", start) for t in closing.carried)


def test_an_invoice_charges_back_only_what_was_paid_in_advance_and_drawn() -> None:
    # Arrears: only the rolled-in money was paid before the period.
    assert prepaid_share(0, (Tranche(300, 9), Tranche(200, 9))) == 500
    assert applied_now(prepaid=500, drawn=800, counted=900, applied_before=0) == 500
    # Drawn but not yet in the ledger the invoice reads: never more than its debits.
    assert applied_now(prepaid=10_000, drawn=800, counted=600, applied_before=0) == 600
    assert applied_now(prepaid=10_000, drawn=800, counted=900, applied_before=600) == 200
    assert applied_now(prepaid=10_000, drawn=800, counted=900, applied_before=800) == 0
    assert applied_now(prepaid=10_000, drawn=0, counted=900, applied_before=0) == 0


@given(
    st.integers(0, 10**9),
    st.integers(0, 10**9),
    st.lists(st.integers(0, 10**8), min_size=1, max_size=6),
)
def test_a_periods_invoices_charge_back_what_it_drew_once(
    prepaid: int, drawn: int, debits: list[int]
) -> None:
    """However the period's debits fall across its invoices, and whatever the hot store
    said on the way (never more than it finally drew), the charge-backs add up to
    min(drawn, prepaid, every debit) and none is negative."""
    before, counted = 0, 0
    for i, d in enumerate(debits):
        counted += d
        said = drawn * (i + 1) // len(debits)
        now = applied_now(prepaid, said, counted, before)
        assert now >= 0
        before += now
    assert before == min(prepaid, drawn, counted)
