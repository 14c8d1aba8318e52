"""A price change as a period of a model's price (billing/pricing/changes.py): in force from its
effective time and never before it, its preview the same arithmetic as a settlement, and the
confirmation figure an operator names; the settings that govern review."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from billing.metering.stated_cost import stated_nanos
from billing.metering.usage import Usage
from billing.money.micros import charge
from billing.pricing import PricingError, load_pricing, parse_pricing
from billing.pricing.changes import (
    AccountPreview,
    cards_after,
    change_diff,
    largest_move,
    percent,
    preview,
    read_document,
    schedule,
)
from billing.pricing.from_cards import Unwritable, from_install, model_entry, to_toml
from billing.pricing.table import NAME_KEPT, REFUSALS_KEPT, counted_name
from billing.proof.drift import checked, drift_permille
from gateway.config.price_review import price_review
from gateway.config.settings import PROVIDERS as PROVIDERS_ALL
from gateway.config.values import ConfigError

PROVIDERS = frozenset({"openai", "anthropic"})
TABLE = parse_pricing(
    {
        "catalogue": {"serve": False},
        "models": {
            "house": {"provider": "openai", "max_output_tokens": 100,
                      "input": "1.00", "output": "2.00"},
            "dated": {"provider": "openai", "max_output_tokens": 100, "prices": [
                {"from": "2020-01-01", "input": "1.00", "output": "2.00"},
                {"from": "2099-01-01", "input": "9.00", "output": "9.00"},
            ]},
        },
    },
    PROVIDERS,
)  # fmt: skip
AT = 4_000_000_000_000  # 2096-10-02, before "dated"'s 2099 price
USAGE = Usage(input_tokens=1234, output_tokens=567)


def changed(models: dict[str, Any], at: int = AT) -> list[Any]:
    return schedule(TABLE.lookup, read_document({"models": models}), at, "change 1", PROVIDERS)


def test_a_change_bills_from_its_effective_time_and_never_before() -> None:
    (house,) = changed({"house": {"input": "1.37", "output": "2.91"}})
    assert not house.new
    assert house.price.price(USAGE, AT - 1) == TABLE.lookup("house").price(USAGE, AT - 1)  # type: ignore[union-attr]
    assert house.price.price(USAGE, AT).provider_micros == 3341  # 1234 x 1.37 + 567 x 2.91
    card = house.price.card(AT)
    assert card.meta["source"] == "change 1" and card.meta["from"].startswith("2096-10-02")


def test_a_change_replaces_the_dated_prices_after_it() -> None:
    (dated,) = changed({"dated": {"input": "3.00", "output": "4.00"}})
    far = 4_200_000_000_000  # 2103: past the 2099 price, which the change replaced
    assert dated.price.card(far).bands[0].rates == {
        "input_mtok": 3_000_000,
        "output_mtok": 4_000_000,
    }


def test_the_diff_names_each_moved_dimension() -> None:
    lines = change_diff(TABLE.lookup, changed({"house": {"input": "1.00", "output": "2.50"}}))
    assert lines == ["~ house [default] output_mtok: 2.000000 -> 2.500000 USD per 1M tokens"]


def test_a_served_model_takes_rates_only_under_its_billed_name() -> None:
    with pytest.raises(PricingError, match="rates only"):
        changed({"house": {"input": "1.00", "output": "2.00", "provider": "anthropic"}})
    with pytest.raises(PricingError, match="one start"):
        changed({"house": {"prices": []}})


def test_a_new_model_names_its_route_and_is_new() -> None:
    with pytest.raises(PricingError, match="provider"):
        changed({"brand-new": {"input": "1.00", "output": "2.00"}})
    entry = {"provider": "openai", "max_output_tokens": 50, "input": "1.00", "output": "2.00"}
    (new,) = changed({"brand-new": entry})
    assert new.new and new.price.upstream_model == "brand-new"


@pytest.mark.parametrize("raw", [{}, {"models": {}}, {"models": []}, {"models": {"x": 1}}, []])
def test_a_document_is_models_of_tables(raw: Any) -> None:
    with pytest.raises(PricingError):
        read_document(raw)


def test_the_preview_is_the_settlements_arithmetic_per_call_at_the_markup() -> None:
    scheduled = changed({"house": {"input": "1.37", "output": "2.91"}})
    row = {"model": "house", "input_tokens": 1234, "cached_input_tokens": 0,
           "cache_write_tokens": 0, "output_tokens": 567, "reasoning_tokens": 0,
           "usage_detail": None}  # fmt: skip
    rows = [
        {**row, "account_id": "a", "calls": 3},
        {**row, "account_id": "b"},
        {**row, "model": "x", "account_id": "a"},
    ]
    (a, b) = preview(TABLE.lookup, scheduled, rows, {"b": 2000})
    new = scheduled[0].price.price(USAGE, AT).numerator
    old = TABLE.lookup("house").price(USAGE, AT).numerator  # type: ignore[union-attr]
    assert (a.calls, a.before_micros, a.after_micros) == (3, 3 * charge(old), 3 * charge(new))
    assert (b.before_micros, b.after_micros) == (charge(old, 2000), charge(new, 2000))


def test_the_move_is_named_in_tenths_of_a_percent_rounded_up() -> None:
    assert AccountPreview("a", 1, 1000, 1125).move_permille == 125
    assert AccountPreview("a", 1, 3000, 2999).move_permille == 1
    assert percent(125) == "12.5%" and percent(125, down=True) == "-12.5%" and percent(0) == "0.0%"
    assert largest_move([]) == 0
    assert largest_move([AccountPreview("a", 1, 10, 11), AccountPreview("b", 1, 10, 5)]) == 500


def test_review_settings() -> None:
    review = price_review({"PRICE_CHANGE_CONFIRM_PERCENT": "12.5"}.get)
    assert (review.approvers, review.confirm_permille) == (1, 125)
    for bad in (
        {"PRICE_CHANGE_APPROVERS": "3"},
        {"PRICE_CHANGE_CONFIRM_PERCENT": "1.25"},
        {"PRICE_CHANGE_CONFIRM_PERCENT": "nan"},
        {"PRICE_CHANGE_LEAD_S": "10", "PRICE_CHANGE_POLL_S": "10"},
    ):
        with pytest.raises(ConfigError):
            price_review(bad.get)


def test_refusals_are_counted_in_the_process_bounded_and_taken_once() -> None:
    table = parse_pricing({"catalogue": {"serve": False}, "models": {}} | {"models": {
        "house": {"provider": "openai", "max_output_tokens": 1, "input": "1", "output": "1"}}},
        PROVIDERS)  # fmt: skip
    table.refused("new", "a")
    table.refused("new", "a")
    table.refused("x" * 1000, "b", 3)
    assert table.take_refusals() == {("new", "a"): 2, ("x" * NAME_KEPT, "b"): 3}
    assert table.take_refusals() == {}
    for n in range(REFUSALS_KEPT + 5):
        table.refused(f"m{n}", "a")
    table.refused("m0", "a")
    counts = table.take_refusals()
    assert len(counts) == REFUSALS_KEPT and counts[("m0", "a")] == 2


def test_a_refused_name_is_counted_as_text_the_ledger_stores() -> None:
    assert counted_name("gpt-9") == "gpt-9"
    assert counted_name("modèle") == "modèle"
    assert counted_name("a\x00b\udb6dc") == "a\ufffdb\ufffdc"
    assert counted_name("é" * 1000) == "é" * NAME_KEPT


@pytest.mark.parametrize(
    ("cost", "nanos"),
    [(0.95, 950_000_000), (0, 0), (0.000123456789, 123_457), (True, None), (-1.0, None),
     (float("nan"), None), ("0.1", None), (None, None)],
)  # fmt: skip
def test_a_stated_cost_is_read_in_nano_usd_or_not_at_all(cost: object, nanos: int | None) -> None:
    assert stated_nanos({"cost": cost}) == nanos


def test_drift_leaves_the_cards_rounding_and_counts_the_rest() -> None:
    assert drift_permille(3_500, 3) == 0  # within the card's one rounding up
    assert drift_permille(900_000, 450) == 998  # 449 micros beyond the rounding's one
    assert not checked("m", "a", "r", 450, '{"provider_stated_cost_nanos": 459000}').drifted  # type: ignore[union-attr]
    assert checked("m", "a", "r", 450, '{"provider_stated_cost_nanos": 900000}').drifted  # type: ignore[union-attr]
    assert checked("m", "a", "r", 450, "") is None and checked("m", "a", "r", 450, {}) is None


SHIPPED = load_pricing(Path("config/pricing.toml"), frozenset(PROVIDERS_ALL))


def _rates_of(cards: Any) -> Any:
    return {t: [(b["above"], b["rates"]) for b in c["bands"]] for t, c in cards.items()}


def test_an_installs_cards_written_as_a_change_bill_the_same_rates() -> None:
    """Every served model pricing.toml can say, written back and scheduled: its cards'
    rates, band by band and tier by tier, are the installed ones."""
    current = SHIPPED.current()
    written = unwritable = 0
    for name, cards in current.items():
        if SHIPPED.lookup(name).name != name:  # type: ignore[union-attr]
            continue  # served by another's name: a change names it as it is billed
        try:
            entry = model_entry(cards)
        except Unwritable:
            unwritable += 1
            continue
        doc = read_document(tomllib.loads(to_toml({"models": {name: entry}})))
        (s,) = schedule(SHIPPED.lookup, doc, AT, "install", frozenset(PROVIDERS_ALL))
        assert _rates_of(cards_after([s])[name]) == _rates_of(cards), name
        written += 1
    assert written > 100 and unwritable < written // 5


def test_from_install_carries_moved_models_and_names_the_rest() -> None:
    served = {"a": {"": _card({"input_mtok": 1})}, "b": {"": _card({"input_mtok": 2})},
              "gone": {"": _card({"input_mtok": 2})}}  # fmt: skip
    installed = {"a": {"": _card({"input_mtok": 1})}, "b": {"": _card({"input_mtok": 3})},
                 "c": {"": _card({"input_mtok": 1})}}  # fmt: skip
    change, left = from_install(served, installed)
    assert change == {"models": {"b": {"input": "0.000003"}}}
    assert left == [
        "c: newly served; propose it with its route",
        "gone: no longer served by the install",
    ]
    installed["b"] = {"": _card({"input_video_mtok": 3})}
    change, left = from_install(served, installed)
    assert change == {"models": {}} and left[0].startswith(
        "b: input_video_mtok has no pricing.toml"
    )


def _card(rates: dict[str, int]) -> dict[str, Any]:
    return {"bands": [{"above": -1, "rates": rates}]}
