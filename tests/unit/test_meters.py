"""Meters: exact prices from decimal strings, validation at start-up, meter quota metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from billing.money.quotas import Quota, QuotaSpecError, decode_quotas, encode_quotas, parse_quota
from billing.pricing.meters import MeterError, load_meters, parse_meters

CONFIG = Path(__file__).resolve().parents[2] / "config" / "meters.toml"


def one(**entry: object) -> dict[str, object]:
    return {"meters": {"m": {"unit": "second", **entry}}}


def test_prices_are_exact_per_unit_and_per_thousand_and_million() -> None:
    assert parse_meters(one(price="0.0004")).meters["m"].cost_micros(901) == 360_400
    per_k = parse_meters(one(price="0.02", per=1000)).meters["m"]
    assert (per_k.price_micros, per_k.cost_micros(1000), per_k.cost_micros(1)) == (
        20_000,
        20_000,
        20,
    )
    per_m = parse_meters(one(price="0.00009", per=1_000_000)).meters["m"]
    assert per_m.cost_micros(1_000_000) == 90
    assert per_m.cost_micros(1) == 1  # rounded up once, never down
    assert per_m.cost_micros(3_000_001) == 271
    assert per_m.cost_micros(0) == 0


@pytest.mark.parametrize(
    "entry",
    [
        {"price": "0.0000001"},  # below one micro for the unit count
        {"price": 0.5},  # a float never holds money
        {"price": "-1"},
        {"price": "1", "per": 10},
        {"price": "1", "unit": "furlong"},
        {"price": "1", "unit": ["second"]},  # a TOML array: refused, not a TypeError
        {"price": "1", "on_expiry": "later"},
        {"price": "1", "quota_metric": "gpu"},
        {"price": "1", "allow_overage": "yes"},
        {"price": "1", "colour": "red"},
    ],
)
def test_invalid_meters_fail_at_start_up(entry: dict[str, object]) -> None:
    with pytest.raises(MeterError):
        parse_meters(one(**entry))


def test_shipped_meters_load() -> None:
    book = load_meters(CONFIG)
    gpu = book.meters["gpu_seconds"]
    assert (gpu.unit, gpu.on_expiry, gpu.quota_metric) == ("second", "charge", "meter:gpu_seconds")
    assert load_meters(CONFIG.parent / "absent.toml").names() == []


def test_meter_metrics_round_trip_through_the_quota_encoding() -> None:
    q = parse_quota({"window": "day", "metric": "meter:gpu_seconds", "limit": 36000})
    assert q.code == "d:m.gpu_seconds"
    quotas = (q, Quota("minute", "requests", 5))
    assert decode_quotas(encode_quotas(quotas)) == quotas
    with pytest.raises(QuotaSpecError):
        parse_quota({"window": "day", "metric": "meter:GPU", "limit": 1})


@pytest.mark.parametrize(
    "quota",
    [
        {"window": {"day": 1}, "metric": "requests", "limit": 1},
        {"window": ["day"], "metric": "requests", "limit": 1},
        {"window": "day", "metric": {"requests": 1}, "limit": 1},
        {"window": "day", "metric": ["tokens"], "limit": 1},
    ],
)
def test_a_quota_field_of_the_wrong_json_type_is_a_spec_error(quota: dict[str, object]) -> None:
    """An object or a list is unhashable: it must be refused as a bad spec (a 400 for the
    admin API), not raise TypeError (a 500)."""
    with pytest.raises(QuotaSpecError):
        parse_quota(quota)
