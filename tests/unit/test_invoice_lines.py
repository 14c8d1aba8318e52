"""billing/contracts/invoices.py and billing/money/tax.py: lines from the ledger's groups,
the one rounding rule, the tax rule (VAT by country, reverse charge) and credit notes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from random import Random

import pytest

from billing.contracts.currency import parse_rate
from billing.contracts.invoices import (
    InvalidInvoice,
    Invoice,
    LedgerGroup,
    Party,
    check_group_by,
    credit_note_lines,
    lines_of,
    paid_from_balance,
    tax_of,
    text_lines,
    unit_price,
)
from billing.money.tax import (
    REVERSE_CHARGE,
    InvalidTaxTable,
    Tax,
    parse_table,
    read_table,
    tax_for,
)
from gateway.config.settings import DEFAULT_CONFIG_DIR

T0 = datetime(2026, 10, 1, tzinfo=UTC)
T1 = datetime(2026, 11, 1, tzinfo=UTC)
TABLE = read_table(DEFAULT_CONFIG_DIR / "tax.toml")


def invoice(groups: list[LedgerGroup], currency: str, rate: str, tax: Tax) -> Invoice:
    r = parse_rate(rate)
    usage = -sum(g.amount_micros for g in groups if g.section == "usage")
    return Invoice("invoice", "INV", 1, "acct", "2026-10", T0, T1, T1, currency, r, "test",
                   "model", Party("Issuer"), Party("Customer"), tax,
                   lines_of(groups, r, currency), usage)  # fmt: skip


def debit(key: str, micros: int, **q: int) -> LedgerGroup:
    return LedgerGroup("usage", key, key, 3, 3, -micros, q)


def test_german_consumer_pays_german_vat() -> None:
    tax = tax_for(TABLE, "DE", "")
    assert (tax.percent, tax.name, tax.mention) == (Decimal(19), "VAT", "")


def test_french_business_with_vat_id_is_reverse_charged() -> None:
    tax = tax_for(TABLE, "FR", "FR40303265045")
    assert (tax.percent, tax.mention, tax.reverse_charge) == (Decimal(0), REVERSE_CHARGE, True)


def test_french_consumer_pays_french_vat_and_german_business_german_vat() -> None:
    assert tax_for(TABLE, "FR", "").percent == 20
    assert tax_for(TABLE, "DE", "DE123456789") == Tax(Decimal(19), "VAT")  # same country


def test_unlisted_country_takes_the_default() -> None:
    tax = tax_for(TABLE, "BR", "X1")
    assert (tax.percent, tax.mention) == (Decimal(0), "Outside the scope of VAT")


def test_a_float_rate_in_the_table_is_refused() -> None:
    with pytest.raises(InvalidTaxTable):
        parse_table({"rates": {"DE": {"rate": 19.0}}})
    with pytest.raises(InvalidTaxTable):
        parse_table({"issuer_country": "Germany"})


def test_eur_invoice_with_german_vat() -> None:
    groups = [debit("gpt-4o", 7_500, input=3000, output=1500), debit("gpt-4o-mini", 450)]
    inv = invoice(groups, "EUR", "0.92", tax_for(TABLE, "DE", ""))
    # 7,500 micros = 0.0069 EUR = 0.69 cent -> 1; 450 micros = 0.0414 cent -> 0
    assert [ln.amount_minor for ln in inv.lines] == [1, 0]
    assert inv.subtotal_minor == 1 and inv.tax_minor == 0 and inv.total_minor == 1
    big = invoice([debit("gpt-4o", 123_456_789)], "EUR", "0.92", tax_for(TABLE, "DE", ""))
    assert big.subtotal_minor == 11358  # 113.58012588 EUR
    assert big.tax_minor == 2158  # 19% of 113.58 = 21.5802
    assert big.total_minor == 13516


def test_jpy_has_no_minor_unit() -> None:
    inv = invoice([debit("gpt-4o", 10_003_300)], "JPY", "151.37", Tax(Decimal(10), "JCT"))
    assert inv.lines[0].amount_minor == 1514  # 1514.2095... yen
    assert (inv.tax_minor, inv.total_minor) == (151, 1665)  # 151.4 -> 151


def test_lines_sum_to_the_debits_before_rounding() -> None:
    rng = Random(72)
    for _ in range(200):
        groups = [debit(f"m{i}", rng.randrange(1, 10**9)) for i in range(rng.randrange(1, 9))]
        adjusted = rng.randrange(-(10**6), 10**6)
        groups.append(LedgerGroup("adjustment", "", "adjustment", 1, 0, adjusted))
        inv = invoice(groups, "EUR", "0.9137", Tax(Decimal(19), "VAT"))
        assert (
            inv.lines_micros
            == inv.usage_micros
            == -sum(g.amount_micros for g in groups if g.section == "usage")
        )
        charged = [ln.amount_minor for ln in inv.lines if ln.section in ("usage", "adjustment")]
        assert inv.subtotal_minor == sum(charged)
        assert inv.total_minor == inv.subtotal_minor + tax_of(inv.subtotal_minor, Decimal(19))
        for ln in inv.lines:  # each line within half a minor unit of its exact value
            exact = Decimal(ln.amount_micros) * Decimal("0.9137") * 100 / 10**6
            assert abs(exact - ln.amount_minor) <= Decimal("0.5")


def test_credits_and_refunds_are_lines_but_not_charged() -> None:
    groups = [
        debit("gpt-4o", 2_000_000),
        LedgerGroup("credit", "", "credit", 1, 0, 5_000_000),
        LedgerGroup("refund", "", "refund", 1, 0, -1_000_000),
        LedgerGroup("adjustment", "", "adjustment", 1, 0, 500_000),
    ]
    inv = invoice(groups, "USD", "1", Tax(Decimal(0), "Tax"))
    assert [ln.section for ln in inv.lines] == ["usage", "adjustment", "credit", "refund"]
    assert [ln.amount_minor for ln in inv.lines] == [200, -50, -500, 100]
    assert inv.subtotal_minor == 150


def test_unit_price_only_where_exact() -> None:
    rate = parse_rate("1")
    assert unit_price(3_000_000, {"units": 1000}, rate, 2) == "0.003"
    assert unit_price(1_000_000, {"units": 3}, rate, 2) is None  # 0.333...
    assert unit_price(7_500, {"input": 3000, "output": 1500}, rate, 2) is None  # two kinds


def test_credit_note_negates_every_line() -> None:
    inv = invoice([debit("gpt-4o", 123_456_789)], "EUR", "0.92", Tax(Decimal(19), "VAT"))
    lines = credit_note_lines(inv, None, ())
    assert [ln.amount_minor for ln in lines] == [-ln.amount_minor for ln in inv.lines]
    assert [ln.amount_micros for ln in lines] == [-ln.amount_micros for ln in inv.lines]
    assert [ln.credits_position for ln in lines] == [1]


def test_a_line_is_credited_once() -> None:
    groups = [debit("a", 1_000_000), debit("b", 2_000_000), debit("c", 3_000_000)]
    inv = invoice(groups, "USD", "1", Tax(Decimal(0), "Tax"))
    first = credit_note_lines(inv, [3, 1], ())
    assert [(ln.position, ln.credits_position, ln.amount_minor) for ln in first] == [
        (1, 1, -100), (2, 3, -300)
    ]  # fmt: skip
    rest = credit_note_lines(inv, None, {1, 3})
    assert [ln.credits_position for ln in rest] == [2]
    for positions, credited in (([1], {1}), ([4], set()), (None, {1, 2, 3})):
        with pytest.raises(InvalidInvoice):
            credit_note_lines(inv, positions, credited)
    empty = invoice([], "USD", "1", Tax(Decimal(0), "Tax"))
    with pytest.raises(InvalidInvoice, match="no line"):
        credit_note_lines(empty, None, ())


def test_group_by_values() -> None:
    assert check_group_by("tag:cost_center") == "tag:cost_center"
    with pytest.raises(InvalidInvoice):
        check_group_by("project")


def test_text_names_the_reverse_charge() -> None:
    inv = invoice(
        [debit("gpt-4o", 1_000_000)], "EUR", "0.92", tax_for(TABLE, "FR", "FR40303265045")
    )
    text = [t for t, _ in text_lines(inv)]
    assert REVERSE_CHARGE in text and "Rate: 1 USD = 0.92 EUR (test)" in text


def test_a_prepaid_accounts_balance_pays_what_the_commitment_did_not() -> None:
    groups = [
        LedgerGroup("usage", "m", "m", 2, 2, -951_900_000),
        LedgerGroup("adjustment", "", "adjustment", 1, 0, -100),
        LedgerGroup("commitment", "", "commitment prepaid", 1, 0, -1_000_000_000),
        LedgerGroup("applied", "commitment 2026-11-01", "drawn", 0, 0, 450_900_000),
    ]
    paid = paid_from_balance(groups)
    assert paid is not None and (paid.section, paid.amount_micros) == ("applied", 501_000_100)
    lines = lines_of([*groups, paid], Decimal(1), "USD")
    assert sum(ln.amount_micros for ln in lines if ln.section != "credit") == 1_000_000_000
    assert paid_from_balance(groups[2:]) is not None  # charged back more than used: a charge
    assert paid_from_balance([]) is None
