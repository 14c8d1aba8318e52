"""A markup change's document, diff and preview (billing/pricing/markup_change.py), the card a
start compares with the approved one (billing/pricing/config_card.py), the hot record's
scheduled markup (billing/money/plans.py) and the PRICE_CHANGES_AT_START setting."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billing.metering.usage import Usage
from billing.money.micros import charge
from billing.money.plans import Plan, PlanBook, next_markup
from billing.pricing import PricingError, PricingTable, parse_pricing
from billing.pricing.config_card import approved_entries, moved_models, rates_digest
from billing.pricing.markup_change import (
    MarkupChange,
    PlanMarkupChange,
    markup_diff,
    markup_preview,
    plan_markup_diff,
    plan_markup_preview,
    read_markup,
    read_plan_markup,
)
from gateway.config.price_review import price_review
from gateway.config.values import ConfigError

PROVIDERS = frozenset({"openai"})


def table(input_rate: str) -> PricingTable:
    return parse_pricing(
        {"catalogue": {"serve": False}, "models": {"house": {
            "provider": "openai", "max_output_tokens": 100, "input": input_rate, "output": "2.00",
        }}},
        PROVIDERS,
    )  # fmt: skip


def test_a_markup_document_reads_back_and_refuses_what_is_not_one() -> None:
    change = MarkupChange("acct_1", 1500)
    assert read_markup(change.to_json()) == change
    assert read_markup({"markup": {"account_id": "acct_1", "markup_bps": None}}) == MarkupChange(
        "acct_1", None
    )
    assert read_markup({"models": {}}) is None  # a change of model prices
    for bad in (
        {"markup": {"account_id": "acct_1", "markup_bps": -1}},
        {"markup": {"account_id": "acct_1", "markup_bps": True}},
        {"markup": {"account_id": "", "markup_bps": 1}},
        {"markup": {"account_id": "acct_1", "markup_bps": 1}, "models": {}},
    ):
        with pytest.raises(PricingError):
            read_markup(bad)


def test_a_markup_preview_charges_the_same_usage_at_either_markup() -> None:
    lookup = table("1.00").lookup
    row = {"account_id": "acct_1", "model": "house", "input_tokens": 1000, "output_tokens": 500,
           "cached_input_tokens": 0, "cache_write_tokens": 0, "reasoning_tokens": 0,
           "usage_detail": None, "calls": 3}  # fmt: skip
    gone = {**row, "model": "retired"}
    [moved] = markup_preview(lookup, "acct_1", [row, gone], 0, 500, 0)
    house = lookup("house")
    assert house is not None
    exact = house.price(Usage(input_tokens=1000, output_tokens=500), 0)
    assert (moved.calls, moved.before_micros) == (3, 3 * charge(exact.numerator, 0))
    assert moved.after_micros == 3 * charge(exact.numerator, 500) == 3 * 2100
    assert moved.move_permille == 50
    assert markup_preview(lookup, "acct_1", [gone], 0, 500, 0) == []
    assert markup_diff("acct_1", (None, 2000), (500, 500)) == [
        "acct_1 markup: 2000 bps (its plan's) -> 500 bps"
    ]


def test_the_hot_record_carries_a_scheduled_markup_resolved_against_the_plan() -> None:
    plan = Plan("reseller", 0, "prepaid", (), frozenset(), markup_bps=2000)
    at = datetime(2026, 12, 1, tzinfo=UTC)
    ms = int(at.timestamp() * 1000)
    assert next_markup(plan, None, 500) is None
    assert next_markup(plan, at, 500) == (500, ms)
    assert next_markup(plan, at, None) == (2000, ms)  # cleared: the plan's again


def test_a_plan_markup_document_reads_back_and_refuses_what_is_not_one() -> None:
    change = PlanMarkupChange("pro", 1500)
    assert read_plan_markup(change.to_json()) == change
    assert read_plan_markup({"markup": {"account_id": "a", "markup_bps": 1}}) is None
    for bad in (
        {"plan_markup": {"plan": "pro", "markup_bps": None}},  # a plan has a markup
        {"plan_markup": {"plan": "", "markup_bps": 1}},
        {"plan_markup": {"plan": "pro", "markup_bps": 1}, "models": {}},
        {"plan_markup": "pro"},
    ):
        with pytest.raises(PricingError):
            read_plan_markup(bad)
    assert plan_markup_diff("pro", 1000, 1500) == ["plan pro markup: 1000 bps -> 1500 bps"]


def test_a_plan_markup_preview_reprices_each_following_account() -> None:
    lookup = table("1.00").lookup
    row = {"model": "house", "input_tokens": 1000, "output_tokens": 500,
           "cached_input_tokens": 0, "cache_write_tokens": 0, "reasoning_tokens": 0,
           "usage_detail": None, "calls": 2}  # fmt: skip
    rows = [{**row, "account_id": "acct_b"}, {**row, "account_id": "acct_a", "calls": 1}]
    moved = plan_markup_preview(lookup, rows, 1000, 1500, 0)
    assert [(m.account_id, m.before_micros, m.after_micros) for m in moved] == [
        ("acct_a", 2200, 2300),
        ("acct_b", 4400, 4600),
    ]


def test_a_plan_book_installs_a_plan_markup_every_holder_sees() -> None:
    book = PlanBook({"pro": Plan("pro", 0, "prepaid", (), frozenset(), markup_bps=1500)}, "pro")
    at = datetime(2026, 12, 1, tzinfo=UTC)
    ms = int(at.timestamp() * 1000)
    book.install_markup("pro", 1000, (1500, ms))
    book.install_markup("gone", 1, None)  # not in the book: left alone
    plan = book.get("pro")
    assert plan is not None and (plan.markup_bps, plan.next_markup) == (1000, (1500, ms))
    assert book.get("gone") is None
    # An account following the plan carries its scheduled markup; one with its own does not,
    # and its own scheduled change wins.
    assert next_markup(plan, None, None) == (1500, ms)
    assert next_markup(plan, None, None, 700) is None
    assert next_markup(plan, at, 500) == (500, ms)


def test_cards_compare_by_rates_and_restore_in_pricing_toml_words() -> None:
    old, new = table("1.00").current(), table("3.00").current()
    assert rates_digest(old) == rates_digest(table("1.00").current())
    assert rates_digest(old) != rates_digest(new)
    assert moved_models(old, new) == ["house"] and moved_models(old, old) == []
    entries, left = approved_entries(old, ["house"])
    assert entries["house"]["input"] == "1.000000" and left == []


def test_prices_at_start_is_review_unless_set_to_apply() -> None:
    empty: dict[str, str] = {}
    assert price_review(empty.get).at_start == "review"
    assert price_review({"PRICE_CHANGES_AT_START": "APPLY"}.get).at_start == "apply"
    with pytest.raises(ConfigError, match="PRICE_CHANGES_AT_START"):
        price_review({"PRICE_CHANGES_AT_START": "later"}.get)
