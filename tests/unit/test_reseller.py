"""A reseller's private figures leave a customer's answers at any depth, unless shown."""

from __future__ import annotations

from billing.contracts.reseller import (
    PRIVATE,
    arithmetic_for_customer,
    columns_for_customer,
    for_customer,
)

ROW = {"id": 1, "charged_micros": 540, "provider_cost_micros": 450, "markup_bps": 2000}
LINES = [
    "request r  model m",
    "  input 1 x 2 = 2",
    "  exact provider cost 450 micros, rounded up once: 450 micros",
    "  provider cost 450 micros, debited 540 micros",
]


def test_private_fields_leave_every_level() -> None:
    body = {
        "data": [ROW, {"nested": ROW}],
        "totals": {"gross_margin_micros": 90, "spend_micros": 540},
    }
    seen = repr(for_customer(body, False))
    assert not any(field in seen for field in PRIVATE)
    assert "charged_micros" in seen and "spend_micros" in seen
    assert for_customer(body, True) == body


def test_report_columns_lose_the_private_ones() -> None:
    cols = ("requests", "spend_micros", "provider_cost_micros", "gross_margin_micros")
    assert columns_for_customer(cols, False) == ("requests", "spend_micros")
    assert columns_for_customer(cols, True) == cols


def test_a_marked_up_debit_shows_the_charge_alone() -> None:
    said = arithmetic_for_customer(LINES, 540, 450, False)
    assert said == ["request r  model m", "  charged 540 micros"]
    assert arithmetic_for_customer(LINES, 540, 450, True) == LINES


def test_without_a_markup_the_card_is_the_customers_price() -> None:
    said = arithmetic_for_customer(LINES, 450, 450, False) or []
    assert said[-1] == "  debited 450 micros" and "provider" not in "\n".join(said)
    assert arithmetic_for_customer(None, 450, None, False) is None
