"""billing/contracts/currency.py: ISO 4217 minor units and the one conversion rule.

The table's source is ISO 4217 List One ("Current currency & funds", SIX Financial
Information, the ISO 4217 maintenance agency). It is checked here against the CLDR table
Babel ships, where CLDR differs only by rounding to what people pay in cash or write
(documented by CLDR as `_digits` overrides); those currencies are named below.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.contracts.currency import (
    MINOR_UNITS,
    InvalidCurrency,
    minor_units,
    parse_rate,
    round_half_up,
    show,
    to_minor,
)

# CLDR's supplemental currencyData gives these 0 digits (or IQD 0) where ISO 4217 List One
# keeps the legal minor unit: 2, and IQD 3.
CLDR_ROUNDS = {
    "AFN", "ALL", "COP", "HUF", "IDR", "IRR", "KPW", "LAK", "LBP", "MGA", "MMK", "SOS",
    "SYP", "YER", "IQD",
}  # fmt: skip


def test_known_minor_units() -> None:
    assert (minor_units("JPY"), minor_units("eur"), minor_units("KWD")) == (0, 2, 3)
    assert (minor_units("BHD"), minor_units("CLF"), minor_units("USD")) == (3, 4, 2)


def test_table_agrees_with_cldr_except_where_named() -> None:
    babel = pytest.importorskip("babel.numbers")
    differ = {c for c, d in MINOR_UNITS.items() if babel.get_currency_precision(c) != d}
    assert differ == CLDR_ROUNDS


def test_unknown_currency_refused() -> None:
    with pytest.raises(InvalidCurrency):
        minor_units("XYZ")


@pytest.mark.parametrize("bad", ["0", "-1", "1e3", "0.92f", "", "1.", "0.0000000000001"])
def test_bad_rates_refused(bad: str) -> None:
    with pytest.raises(InvalidCurrency):
        parse_rate(bad)


def test_a_float_rate_refused() -> None:
    with pytest.raises(InvalidCurrency):
        parse_rate(0.92)  # type: ignore[arg-type]


def test_round_half_away_from_zero() -> None:
    assert [round_half_up(Decimal(x)) for x in ("2.5", "2.4999", "-2.5", "-2.4")] == [3, 2, -3, -2]


def test_conversion_is_exact_then_rounded_once() -> None:
    rate = parse_rate("0.92")
    assert to_minor(1_000_000, rate, 2) == 92  # $1 = 0.92 EUR = 92 cents
    assert to_minor(5_000, rate, 2) == 0  # 0.46 cent
    assert to_minor(5_435, rate, 2) == 1  # 0.50002 cent: up
    assert to_minor(1_000_000, parse_rate("151.37"), 0) == 151  # JPY has no minor unit
    assert to_minor(1_000_000, parse_rate("151.5"), 0) == 152
    assert to_minor(1_234_567, parse_rate("0.3071"), 3) == 379  # KWD: 0.379134... -> 0.379


def test_show() -> None:
    assert show(123456, "EUR") == "1,234.56 EUR"
    assert show(-5, "EUR") == "-0.05 EUR"
    assert show(1235, "JPY") == "1,235 JPY"
    assert show(1001, "KWD") == "1.001 KWD"
