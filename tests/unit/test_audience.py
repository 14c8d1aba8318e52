"""The operator's money, declared once (billing/audience.py): what a customer's JSON and
FOCUS rows keep of it."""

from __future__ import annotations

from billing.audience import (
    LIST_PRICED,
    OPERATOR_ONLY,
    customer_columns,
    focus_rows_for_customer,
    for_customer,
)
from billing.usage.focus_columns import COLUMNS


def test_a_body_loses_the_operator_s_fields_at_any_depth() -> None:
    entry = {"usage_detail": {"book": "gold@1", "input": 3}, "markup_bps": 0}
    body = {"charged_micros": 280, "provider_cost_micros": 350, "entries": [entry]}
    assert for_customer(body) == {
        "charged_micros": 280,
        "entries": [{"usage_detail": {"input": 3}}],
    }


def test_a_focus_row_priced_off_the_card_shows_its_charge_as_the_list_cost() -> None:
    row = {"BilledCost": "0.000280", "ListCost": "0.000350", "x_ProviderCost": "0.000350",
           "ListUnitPrice": "0.0000025", "SkuPriceDetails": "{}", "SkuId": "m/input"}  # fmt: skip
    (shown,) = focus_rows_for_customer([row])
    assert "x_ProviderCost" not in shown and shown["ListCost"] == "0.000280"
    assert all(shown[c] is None for c in LIST_PRICED - {"ListCost"} if c in shown)
    assert shown["SkuId"] == "m/input"


def test_a_row_at_the_list_card_is_the_customer_s_own() -> None:
    row = {"BilledCost": "0.000350", "ListCost": "0.000350", "ListUnitPrice": "0.0000025"}
    assert focus_rows_for_customer([row]) == [row]


def test_the_customer_s_columns_are_the_declared_ones_less() -> None:
    assert set(COLUMNS) - set(customer_columns(COLUMNS)) == OPERATOR_ONLY & set(COLUMNS)
    assert "x_ProviderCost" in OPERATOR_ONLY & set(COLUMNS)


def test_a_call_is_judged_whole_a_row_rounding_to_its_list_cost_hides_its_unit_price() -> None:
    """A marked-up call whose input share (0.75 micros) rounds to its list cost (1): the
    input row still shows no list unit price, the call was not priced at the card."""
    marked = [
        {"x_LedgerEntryId": "7", "BilledCost": "0.000001", "ListCost": "0.000001",
         "ListUnitPrice": "0.00000015", "SkuPriceDetails": "{}"},
        {"x_LedgerEntryId": "7", "BilledCost": "0.008003", "ListCost": "0.006669",
         "ListUnitPrice": "0.0000006", "SkuPriceDetails": "{}"},
        {"x_LedgerEntryId": "8", "BilledCost": "0.000350", "ListCost": "0.000350",
         "ListUnitPrice": "0.0000025", "SkuPriceDetails": "{}"},
    ]  # fmt: skip
    shown = focus_rows_for_customer(marked)
    assert [r["ListUnitPrice"] for r in shown] == [None, None, "0.0000025"]
    assert [r["SkuPriceDetails"] for r in shown] == [None, None, "{}"]
    assert [r["ListCost"] for r in shown] == ["0.000001", "0.008003", "0.000350"]
