"""The balance forecast: whole days at the last week's rate, integers only, words for people."""

from __future__ import annotations

import pytest

from billing.forecast import forecast


def test_days_are_whole_and_rounded_down() -> None:
    f = forecast(available_micros=10_000_000, spent_micros=7_000_000)  # $1 a day
    assert f.days_left == 10
    assert forecast(10_000_000, 6_999_999).days_left == 10  # 10.0000014 days: 10
    assert forecast(10_000_000, 7_000_001).days_left == 9  # 9.9999985 days: 9


def test_large_amounts_stay_exact() -> None:
    # float division would lose the last day here (10**18 * 7 / 7 ...)
    assert forecast(10**18 + 1, 7).days_left == 10**18 + 1
    assert forecast(3, 7 * 10**17).days_left == 0


def test_no_spend_means_no_forecast() -> None:
    f = forecast(5_000_000, 0)
    assert f.days_left is None
    assert f.words == "No spend in the last 7 days, so there is no forecast."
    assert forecast(5_000_000, -100).days_left is None  # refunds exceeded spend


def test_no_credit_lasts_zero_days() -> None:
    assert forecast(0, 1_000_000).days_left == 0
    assert forecast(-5, 1_000_000).words.endswith("your credit is used up.")


def test_words() -> None:
    assert forecast(12_000_000, 7_000_000).words == (
        "At this week's rate ($7.00 over the last 7 days) your credit lasts 12 days."
    )
    assert forecast(1_500_000, 7_000_000).words.endswith("lasts 1 day.")
    assert forecast(500_000, 7_000_000).words.endswith("lasts less than a day.")
    assert "lasts 365 days" in forecast(365_000_000, 7_000_000).words


def test_past_a_year_the_forecast_says_so_not_a_count_of_days() -> None:
    """Issue 48: "lasts 8,749,993 days" at a rate of a few micros a week."""
    words = forecast(9_999_992, 8).words
    assert words.endswith("your credit lasts more than a year.") and "8,749" not in words
    assert "< $0.01 over the last 7 days" in words  # never "$0.00" spent beside a forecast
    assert forecast(10_000_000_000, 49_000_000).words.endswith("more than a year.")


def test_the_rate_window_is_positive() -> None:
    with pytest.raises(ValueError):
        forecast(1, 1, over_days=0)
