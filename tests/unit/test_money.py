"""Money is integer micros: parsing must be exact, formatting lossless, rounding up once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.money.micros import (
    MICROS_PER_USD,
    MoneyFormatError,
    ceil_div,
    format_usd,
    parse_usd,
    rate_cost,
)


@pytest.mark.parametrize(
    ("text", "micros"),
    [
        ("0", 0),
        ("0.15", 150_000),
        ("0.075", 75_000),
        ("0.60", 600_000),
        ("2.50", 2_500_000),
        ("1", MICROS_PER_USD),
        ("0.000001", 1),
        ("1e-6", 1),
        ("1E3", 1_000_000_000),
        ("15.000000000", 15_000_000),
        ("  0.60\n", 600_000),
        ("+0.5", 500_000),
        ("-0.5", -500_000),
        ("-0", 0),
        ("123456789.123456", 123_456_789_123_456),
    ],
)
def test_parse_usd_is_exact(text: str, micros: int) -> None:
    assert parse_usd(text) == micros


@pytest.mark.parametrize(
    "text",
    [
        "0.0000001",
        "0.15000001",
        "1e-7",
        "0.9999999999999999999999999999999",  # 31 digits: the default context rounded it up
        "1e-999999999",  # underflowed to zero in the default context
        "1e999999",
        "12345678901234567890123456789012345678901234567890",
    ],
)
def test_parse_usd_rejects_sub_micro_or_unbounded_precision(text: str) -> None:
    with pytest.raises(MoneyFormatError):
        parse_usd(text)


@pytest.mark.parametrize(
    "text",
    ["NaN", "nan", "-NaN", "sNaN", "inf", "Infinity", "-Infinity", "+inf"],
)
def test_parse_usd_rejects_non_finite(text: str) -> None:
    with pytest.raises(MoneyFormatError, match="finite"):
        parse_usd(text)


@pytest.mark.parametrize(
    "text",
    [
        *("", "   ", "abc", "0x10", "1,5", "$1", "1.2.3", "1 000", "0.15 USD", "--1"),
        *("\u0663", "1_000", "\uff15", "\u00b2", "\u00a05"),  # Decimal would read the first three
    ],
)
def test_parse_usd_rejects_garbage(text: str) -> None:
    with pytest.raises(MoneyFormatError, match="not a decimal"):
        parse_usd(text)


def test_parse_usd_rejects_non_strings_as_money_errors() -> None:
    with pytest.raises(MoneyFormatError):
        parse_usd(None)


def test_money_format_error_is_a_value_error() -> None:
    assert issubclass(MoneyFormatError, ValueError)


@pytest.mark.parametrize(
    ("micros", "text"),
    [
        (0, "0.000000"),
        (1, "0.000001"),
        (150, "0.000150"),
        (150_000, "0.150000"),
        (1_000_000, "1.000000"),
        (1_234_567_890, "1234.567890"),
        (-1, "-0.000001"),
        (-2_500_000, "-2.500000"),
    ],
)
def test_format_usd(micros: int, text: str) -> None:
    assert format_usd(micros) == text


@given(st.integers(min_value=-(10**18), max_value=10**18))
def test_format_then_parse_round_trips(micros: int) -> None:
    assert parse_usd(format_usd(micros)) == micros


@given(
    st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=6, allow_nan=False)
)
def test_any_six_place_decimal_parses_exactly(value: Decimal) -> None:
    assert parse_usd(str(value)) == int(value.scaleb(6))


@given(st.integers(min_value=0, max_value=10**15), st.integers(min_value=1, max_value=9))
def test_a_seventh_decimal_digit_is_always_rejected(micros: int, digit: int) -> None:
    with pytest.raises(MoneyFormatError):
        parse_usd(f"{format_usd(micros)}{digit}")


@pytest.mark.parametrize(
    ("rate_units", "micros"),
    [(0, 0), (1, 1), (150_000, 1), (999_999, 1), (1_000_000, 1), (1_000_001, 2)],
)
def test_rate_cost_rounds_up(rate_units: int, micros: int) -> None:
    assert rate_cost(rate_units) == micros


@given(st.integers(min_value=0, max_value=10**30))
def test_rate_cost_is_the_least_whole_micro_not_below_exact(rate_units: int) -> None:
    micros = rate_cost(rate_units)
    assert 0 <= micros * 1_000_000 - rate_units < 1_000_000


@given(st.integers(min_value=0, max_value=10**30), st.integers(min_value=1, max_value=10**9))
def test_ceil_div(numerator: int, denominator: int) -> None:
    quotient = ceil_div(numerator, denominator)
    assert (quotient - 1) * denominator < numerator <= quotient * denominator
