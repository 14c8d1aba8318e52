"""FOCUS rows from ledger entries, with no server: a debit's rows add up to it to the micro,
every cost is an exact decimal of micros, each kind lands in its charge category, and the
largest-remainder split never loses or invents a micro."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from billing.metering.usage import Usage
from billing.pricing import load_pricing
from billing.pricing.model import usage_counts
from billing.usage.focus import (
    CATEGORY,
    Entry,
    Issuer,
    Period,
    allocate,
    decimal_text,
    entry_rows,
    micros_of,
)
from billing.usage.focus_columns import COLUMNS, COST_COLUMNS
from gateway.config.settings import DEFAULT_CONFIG_DIR, PROVIDERS

PRICING = load_pricing(DEFAULT_CONFIG_DIR / "pricing.toml", frozenset(PROVIDERS))
CARDS = PRICING.rate_cards()
NOV = Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
AT = datetime(2026, 11, 5, 12, 30, tzinfo=UTC)


def _debit(model: str, usage: Usage, markup_bps: int = 0) -> tuple[Entry, int]:
    price = PRICING.lookup(model)
    assert price is not None
    priced = price.price(usage)
    charged = priced.charged(markup_bps)
    entry = Entry(
        7, "debit", AT, -charged, "acct_1", "Acme", request_id="req_1", model=model,
        provider=price.provider, price_version=priced.version,
        provider_cost_micros=priced.provider_micros, key_id="key_1", key_name="ops",
        counts=usage_counts(usage), card=CARDS[priced.version],
    )  # fmt: skip
    return entry, charged


def test_a_debit_splits_into_one_row_per_priced_part_that_add_up_to_it() -> None:
    usage = Usage(input_tokens=12_345, cached_input_tokens=2_000, output_tokens=777)
    entry, charged = _debit("gpt-4o-mini", usage, markup_bps=2_000)
    rows = entry_rows(entry, NOV, Issuer())
    assert [r["SkuMeter"] for r in rows] == ["input_tokens", "cache_read_tokens", "output_tokens"]
    assert sum(micros_of(r["BilledCost"] or "") for r in rows) == charged
    provider = entry.provider_cost_micros
    assert sum(micros_of(r["ListCost"] or "") for r in rows) == provider
    assert [r["ConsumedQuantity"] for r in rows] == ["12345.0", "2000.0", "777.0"]
    for row in rows:
        assert set(row) == set(COLUMNS)
        assert row["ChargeCategory"] == "Usage" and row["ChargeFrequency"] == "Usage-Based"
        assert row["x_LedgerEntryId"] == "7" and row["InvoiceId"] == "acct_1/2026-11"
        assert row["PublisherName"] == "OpenAI" and row["SkuId"] == f"gpt-4o-mini/{row['SkuMeter']}"


def test_the_list_unit_price_times_the_quantity_is_the_exact_list_cost() -> None:
    usage = Usage(input_tokens=1_000_003, output_tokens=3)
    entry, _ = _debit("gpt-4o", usage)
    for row in entry_rows(entry, NOV, Issuer()):
        exact = Fraction(row["ListUnitPrice"] or "") * Fraction(row["PricingQuantity"] or "")
        listed = Fraction(micros_of(row["ListCost"] or ""), 1_000_000)
        assert abs(exact - listed) < Fraction(1, 1_000_000)  # within the one rounding


def test_every_kind_lands_in_its_category_and_costs_what_it_took_from_the_balance() -> None:
    for kind, amount in [("credit", 5_000_000), ("expire", -1_000), ("refund", -99),
                         ("adjustment", -125_000), ("adjustment", 7), ("void", 40)]:  # fmt: skip
        entry = Entry(1, kind, AT, amount, "acct_1", "Acme", grant_kind="paid")
        (row,) = entry_rows(entry, NOV, Issuer())
        assert row["ChargeCategory"] == CATEGORY[kind]
        assert micros_of(row["BilledCost"] or "") == -amount
        assert row["ConsumedQuantity"] is None or kind == "void"


def test_a_metered_debit_is_one_row_of_its_meter() -> None:
    entry = Entry(3, "debit", AT, -50, "acct_1", "Acme", meter="gpu_seconds", quantity=5)
    (row,) = entry_rows(entry, NOV, Issuer())
    assert (row["SkuId"], row["ConsumedQuantity"], row["ConsumedUnit"]) == (
        "meter/gpu_seconds", "5.0", "Gpu Seconds",
    )  # fmt: skip
    assert row["BilledCost"] == "0.000050"


def test_costs_are_exact_decimals_of_micros() -> None:
    entry, _ = _debit("gpt-4o-mini", Usage(input_tokens=1, output_tokens=1))
    for row in entry_rows(entry, NOV, Issuer()):
        for column in COST_COLUMNS:
            text = row[column]
            assert text is None or len(text.split(".")[1]) == 6


def test_decimal_text_is_exact_where_a_finite_decimal_exists() -> None:
    assert decimal_text(Fraction(150_000, 1_000_000 * 1_000_000)) == "0.00000015"
    assert decimal_text(Fraction(1, 3600)) == "0.000277777777777778"
    assert decimal_text(Fraction(0)) == "0"


@given(
    st.integers(-(10**12), 10**12),
    st.lists(st.fractions(min_value=0, max_value=10**9), min_size=1, max_size=12),
)
def test_allocate_never_loses_or_invents_a_micro(total: int, weights: list[Fraction]) -> None:
    parts = allocate(total, weights)
    assert sum(parts) == total and len(parts) == len(weights)
    whole = sum(weights)
    if whole > 0:
        for part, weight in zip(parts, weights, strict=True):
            assert abs(part - Fraction(total) * weight / whole) < 1


def test_a_charge_period_is_the_hour_it_falls_in() -> None:
    """FOCUS 1.2: ChargePeriodStart is the inclusive start and ChargePeriodEnd the exclusive
    end of the charge's effective period, so End is after Start (a zero-length period was
    written before); an entry's is the UTC hour it falls in, inside its billing period."""
    entry, _ = _debit("gpt-4o-mini", Usage(input_tokens=1, output_tokens=1))
    late = Entry(2, "credit", datetime(2026, 11, 30, 23, 59, 59, 999_999, tzinfo=UTC), 5,
                 "acct_1", "Acme", grant_kind="paid")  # fmt: skip
    for e, start, end in [(entry, "2026-11-05T12:00:00Z", "2026-11-05T13:00:00Z"),
                          (late, "2026-11-30T23:00:00Z", "2026-12-01T00:00:00Z")]:  # fmt: skip
        for row in entry_rows(e, NOV, Issuer()):
            assert (row["ChargePeriodStart"], row["ChargePeriodEnd"]) == (start, end)
            assert str(row["BillingPeriodStart"]) <= start and end <= str(row["BillingPeriodEnd"])
