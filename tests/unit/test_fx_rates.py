"""Reference rates: the ECB's document read, a rate per USD crossed through EUR and rounded
once at 8 places, and documents that are not rates refused by name."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.contracts.currency import InvalidCurrency, per_usd
from gateway.outbound.fx_rates import parse_ecb
from tests.support.fakes.ecb_rates import document


def test_the_newest_day_of_an_ecb_document() -> None:
    rates = parse_ecb(document("2026-11-26", {"USD": "1.0545", "JPY": "161.93"}).encode())
    assert rates.day == "2026-11-26"
    assert rates.per_eur == {"USD": Decimal("1.0545"), "JPY": Decimal("161.93")}


def test_a_rate_per_usd_is_the_cross_through_eur_rounded_once() -> None:
    table = {"USD": Decimal("1.0545"), "GBP": Decimal("0.83118")}
    assert per_usd(table, "GBP") == Decimal("0.78822191")
    assert per_usd(table, "eur") == Decimal("0.94831674")  # 1 / 1.0545
    assert per_usd(table, "USD") == Decimal(1)
    with pytest.raises(InvalidCurrency, match="CHF"):
        per_usd(table, "CHF")
    with pytest.raises(InvalidCurrency, match="USD"):
        per_usd({"GBP": Decimal("0.83118")}, "GBP")


@pytest.mark.parametrize(
    "body",
    [
        b"not xml",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>',
        document("2026-11-26", {"USD": "NaN"}).encode(),
        document("2026-11-26", {"USD": "-1"}).encode(),
        b'<?xml version="1.0"?><Envelope/>',
    ],
)
def test_what_is_not_a_rate_document_is_refused(body: bytes) -> None:
    with pytest.raises(InvalidCurrency):
        parse_ecb(body)
