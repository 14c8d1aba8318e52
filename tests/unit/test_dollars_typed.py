"""What people type as money, read once (billing.money.display.parse_dollars) by every form and
the CLI: dollars, never micros, exact, never through a float."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.money.display import DollarsError, parse_dollars, quota_limit, usd_input
from billing.money.micros import MAX_EXACT
from billing.money.payments import PaymentRuleError, TopupLimits


@pytest.mark.parametrize(
    ("typed", "micros"),
    [
        ("$5", 5_000_000),
        ("5", 5_000_000),
        ("5.00", 5_000_000),
        ("0.50", 500_000),
        ("$0.5", 500_000),
        (".50", 500_000),
        (" 12.50 ", 12_500_000),
        ("$1,234.50", 1_234_500_000),
        ("1234.50", 1_234_500_000),
        ("0.1", 100_000),  # a float would not hold it; integers do
        ("0.000001", 1),
    ],
)
def test_dollars_as_people_type_them(typed: str, micros: int) -> None:
    assert parse_dollars(typed) == micros


@pytest.mark.parametrize(
    "typed",
    ["", "$", ".", "5.", "abc", "-5", "5e3", "1,23", "12,34.5", "$$5", "5 00", "NaN", "Infinity"],
)
def test_anything_else_is_refused_in_dollars(typed: str) -> None:
    with pytest.raises(DollarsError, match=r"in dollars, like \$5 or 12\.50"):
        parse_dollars(typed, "The amount")


def test_finer_than_a_micro_is_refused_not_rounded() -> None:
    with pytest.raises(DollarsError, match="one micro"):
        parse_dollars("0.0000001")


@given(st.integers(min_value=0, max_value=10**15))
def test_a_drawn_form_field_reads_back_the_same(micros: int) -> None:
    assert parse_dollars(usd_input(micros)) == micros


def test_a_spend_quota_is_typed_in_dollars_and_micros_still_pass_for_scripts() -> None:
    assert quota_limit("spend", "5") == ("spend_micros", 5_000_000)
    assert quota_limit("spend", "$0.25") == ("spend_micros", 250_000)
    assert quota_limit("spend_micros", "5000000") == ("spend_micros", 5_000_000)
    assert quota_limit("requests", "10") == ("requests", 10)
    with pytest.raises(DollarsError):
        quota_limit("requests", "1.5")


def test_a_top_up_out_of_range_is_refused_in_dollars() -> None:
    """The issue's "'amount_micros' must be between 1000000 and 1000000000"."""
    limits = TopupLimits(1_000_000, 1_000_000_000)
    with pytest.raises(PaymentRuleError, match=r"between \$1\.00 and \$1,000\.00") as caught:
        limits.check(500_000)
    assert caught.value.param == "amount_micros"
    with pytest.raises(PaymentRuleError, match=r"whole cents, not \$1\.000001"):
        limits.check(1_000_001)


@pytest.mark.parametrize(
    "typed",
    [
        "\u0661\u0662",
        "$\u0665",
        "\uff15",
        "1\u00b2",
        "12.\uff150",
        "1_000",
        "\u00a05",
        "5\u2003",
        "$1,23\u0664.00",
    ],
)
def test_only_ascii_digits_are_dollars(typed: str) -> None:
    """As billing/money.parse_usd and gateway/http/whole.py read numbers: a regex's \\d
    took '١٢' as 12 and a full-width 5 as 5."""
    with pytest.raises(DollarsError, match=r"in dollars, like \$5 or 12\.50"):
        parse_dollars(typed, "The amount")


@pytest.mark.parametrize("typed", ["9" * 5000, "9007199255", "9,007,199,254.740992"])
def test_an_amount_past_the_exact_integers_is_refused_not_a_huge_int(typed: str) -> None:
    with pytest.raises(DollarsError, match="is more than"):
        parse_dollars(typed, "The amount")
    assert parse_dollars("9,007,199,254.740991") == MAX_EXACT


@pytest.mark.parametrize(
    "typed", ["\u0661\u0660", "\u00b2", "9" * 5000, str(MAX_EXACT + 1), "-1", "+1"]
)
def test_a_count_limit_is_ascii_digits_within_the_exact_integers(typed: str) -> None:
    with pytest.raises(DollarsError, match="whole number"):
        quota_limit("requests", typed)
