"""Price books (billing/pricing/books.py, shelf.py): a customer's rates over the list card,
resolved account > plan > list, inherited child first, exact or refused by name; the book
prices the charge and the reservation, the list card the provider's cost."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from billing.metering.usage import Usage
from billing.money.micros import COST_SCALE, charge
from billing.pricing import parse_pricing
from billing.pricing.batches import bill_of
from billing.pricing.books import BookError, is_book_change, read_book_change
from billing.pricing.model import ModelPrice
from billing.pricing.shelf import BookShelf, check_chain, source
from gateway.errors import BookInexact
from gateway.llm.reading.calls import booked_price

PROVIDERS = frozenset({"openai", "anthropic"})
TABLE = parse_pricing(
    {
        "catalogue": {"serve": False},
        "models": {
            "gpt-4o": {"provider": "openai", "max_output_tokens": 1000, "input": "2.50",
                       "cached_input": "1.25", "output": "10.00", "request": "0.01"},
            "gpt-4o-mini": {"provider": "openai", "max_output_tokens": 1000, "input": "0.15",
                            "output": "0.60"},
            "claude-x": {"provider": "anthropic", "max_output_tokens": 1000, "input": "3.00",
                         "output": "15.00", "tiers": [{"above": 200000, "input": "6.00"}]},
            "odd-1": {"provider": "openai", "max_output_tokens": 10, "input": "0.123457",
                      "output": "1.00"},
        },
    },
    PROVIDERS,
)  # fmt: skip
USAGE = Usage(input_tokens=1000, cached_input_tokens=200, output_tokens=500)
AT = 2_000_000_000_000


def price(name: str) -> ModelPrice:
    found = TABLE.lookup(name)
    assert found is not None
    return found


def shelf(*changes: tuple[int, dict[str, Any]], plan_of: dict[str, str] | None = None) -> BookShelf:
    books = BookShelf()
    books.load(
        [(at, read_book_change(doc, i + 1, at)) for i, (at, doc) in enumerate(changes)],
        plan_of or {},
    )
    return books


TWENTY_OFF = {
    "books": {"family-20": {"rules": [{"family": "gpt-4o", "adjust_bps": -2000}]}},
    "assign": {"accounts": {"acct_a": "family-20"}},
}


def test_twenty_percent_off_one_family_prices_the_charge_and_keeps_the_provider_cost() -> None:
    books = shelf((1000, TWENTY_OFF))
    for name in ("gpt-4o", "gpt-4o-mini"):
        listed = price(name).price(USAGE, AT)
        booked = books.price_for("acct_a", price(name), AT).price(USAGE, AT)
        assert booked.numerator * 10 == listed.numerator * 8  # every dimension, fees too
        assert booked.provider_micros == listed.provider_micros  # the provider's cost: list
        assert booked.version == listed.version  # the debit names the list card
        assert ("book", "family-20@1") in booked.detail
        assert charge(booked.numerator) < charge(listed.numerator)
    other = books.price_for("acct_a", price("claude-x"), AT)
    assert other is price("claude-x")  # outside the family: the list price itself
    assert books.price_for("acct_b", price("gpt-4o"), AT) is price("gpt-4o")  # no book


def test_the_reservation_is_priced_with_the_book_never_under_it() -> None:
    markup = {"books": {"dear": {"adjust_bps": 2500}}, "assign": {"accounts": {"acct_a": "dear"}}}
    booked = shelf((1000, markup)).price_for("acct_a", price("claude-x"), AT)
    worst = booked.worst_case_micros(300_000, 1000)
    assert worst * 4 >= price("claude-x").worst_case_micros(300_000, 1000) * 5
    listed = booked.price(Usage(input_tokens=300_000, output_tokens=1000), AT)
    assert listed.provider_micros <= worst


def test_a_book_is_in_force_from_its_change_until_its_end_and_never_before() -> None:
    doc = {"books": {"b": {"adjust_bps": -1000, "until_ms": 5000}},
           "assign": {"accounts": {"acct_a": "b"}}}  # fmt: skip
    books = shelf((1000, doc))
    assert books.price_for("acct_a", price("gpt-4o"), 999) is price("gpt-4o")
    assert books.price_for("acct_a", price("gpt-4o"), 1000).book == "b@1"
    assert books.price_for("acct_a", price("gpt-4o"), 5000) is price("gpt-4o")


def test_account_book_wins_over_plan_book_which_wins_over_list() -> None:
    books = shelf(
        (1000, {"books": {"plan-b": {"adjust_bps": -1000}, "own": {"adjust_bps": -3000}},
                "assign": {"plans": {"pro": "plan-b"}, "accounts": {"acct_a": "own"}}}),
        plan_of={"acct_a": "pro", "acct_b": "pro"},
    )  # fmt: skip
    assert books.price_for("acct_a", price("gpt-4o"), AT).book == "own@1"
    assert books.price_for("acct_b", price("gpt-4o"), AT).book == "plan-b@1"
    assert books.price_for("acct_c", price("gpt-4o"), AT) is price("gpt-4o")


def test_a_child_rule_wins_per_model_and_dimension_else_the_parent_else_the_default() -> None:
    doc = {
        "books": {
            "parent": {"adjust_bps": -500, "rules": [
                {"family": "gpt-4o", "dimension": "output", "rate": "8.00"},
                {"model": "gpt-4o", "dimension": "input", "rate": "2.20"}]},
            "child": {"parent": "parent", "rules": [
                {"model": "gpt-4o", "dimension": "input", "rate": "2.00"}]},
        },
        "assign": {"accounts": {"acct_a": "child"}},
    }  # fmt: skip
    books = shelf((1000, doc))
    chain = books.chain("acct_a", AT)
    assert [b.name for b in chain] == ["child", "parent"]
    assert source(chain, "gpt-4o", "input_mtok").book.name == "child"  # type: ignore[union-attr]
    out = source(chain, "gpt-4o", "output_mtok")
    assert out.book is not None and out.book.name == "parent" and out.rule is not None
    fallback = source(chain, "gpt-4o", "cache_read_mtok")
    assert fallback.rule is None and fallback.adjust_bps == -500
    rates = books.price_for("acct_a", price("gpt-4o"), AT).card(AT).bands[0].rates
    assert rates["input_mtok"] == 2_000_000 and rates["output_mtok"] == 8_000_000
    assert rates["cache_read_mtok"] == 1_187_500  # 1.25 less 5%
    assert rates["requests_kcount"] == 9_500_000  # per 1k calls: 0.01 a call less 5%


def test_a_longer_family_wins_and_a_model_rule_wins_over_any_family() -> None:
    doc = {"books": {"b": {"rules": [
        {"family": "gpt", "adjust_bps": -1000},
        {"family": "gpt-4o", "adjust_bps": -2000},
        {"model": "gpt-4o-mini", "adjust_bps": -5000}]}},
        "assign": {"accounts": {"a": "b"}}}  # fmt: skip
    books = shelf((1000, doc))
    rate = books.price_for("a", price("gpt-4o"), AT).card(AT).bands[0].rates["input_mtok"]
    assert rate == 2_000_000
    mini = books.price_for("a", price("gpt-4o-mini"), AT).card(AT).bands[0].rates["input_mtok"]
    assert mini == 75_000


def test_a_rate_that_is_not_a_whole_micro_dollar_is_refused_naming_book_model_dimension() -> None:
    doc = {"books": {"odd": {"adjust_bps": -3}}, "assign": {"accounts": {"a": "odd"}}}
    books = shelf((1000, doc))
    with pytest.raises(BookError, match=r"book odd@1: odd-1 input at -3 bps over .* 123457"):
        books.price_for("a", price("odd-1"), AT)
    with pytest.raises(BookError, match="odd@1"):
        check_chain(books.chain("a", AT), TABLE.served())
    with pytest.raises(BookError, match="more precision than one micro"):
        read_book_change({"books": {"b": {"rules": [
            {"model": "m", "dimension": "input", "rate": "0.0000001"}]}}}, 1, 0)  # fmt: skip


@pytest.mark.parametrize(
    "doc, said",
    [
        ({"books": {"B": {}}}, "a name is"),
        ({"books": {"b": {"adjust_bps": -10000}}}, "above -10000"),
        ({"books": {"b": {"rules": [{"model": "m", "family": "f", "adjust_bps": 1}]}}}, "not both"),
        ({"books": {"b": {"rules": [{"model": "m", "adjust_bps": 1, "rate": "1"}]}}}, "one of"),
        ({"books": {"b": {"rules": [{"model": "m", "rate": "1"}]}}}, "names one dimension"),
        ({"books": {"b": {"rules": [{"model": "m", "dimension": "x", "adjust_bps": 1}]}}}, "none"),
        ({"books": {"b": {"rules": [{"model": "m", "dimension": 0, "adjust_bps": 1}]}}}, "none"),
        ({"books": {"b": {"extra": 1}}}, "a table of"),
        ({"assign": {"teams": {}}}, "assign is"),
        ({"books": {}, "assign": {}}, "names something"),
    ],
)
def test_a_document_that_is_not_a_book_change_is_refused_saying_why(
    doc: dict[str, Any], said: str
) -> None:
    assert is_book_change(doc)
    with pytest.raises(BookError, match=said):
        read_book_change(doc, 1, 0)


def test_a_later_version_replaces_the_book_and_a_null_assignment_falls_back_to_the_plan() -> None:
    books = shelf(
        (1000, {"books": {"b": {"adjust_bps": -1000}, "p": {"adjust_bps": -500}},
                "assign": {"accounts": {"a": "b"}, "plans": {"pro": "p"}}}),
        (2000, {"books": {"b": {"adjust_bps": -2000}}}),
        (3000, {"assign": {"accounts": {"a": ""}}}),  # TOML's way: it has no null
        plan_of={"a": "pro"},
    )  # fmt: skip
    assert books.price_for("a", price("gpt-4o"), 1500).book == "b@1"
    assert books.price_for("a", price("gpt-4o"), 2500).book == "b@2"
    assert books.price_for("a", price("gpt-4o"), 3500).book == "p@1"


def test_a_parent_cycle_stops_instead_of_looping() -> None:
    doc = {"books": {"x": {"parent": "y"}, "y": {"parent": "x", "adjust_bps": -1000}},
           "assign": {"accounts": {"a": "x"}}}  # fmt: skip
    assert [b.name for b in shelf((1000, doc)).chain("a", AT)] == ["x", "y"]


def test_a_batch_under_a_book_sums_the_lines_book_and_list_costs_apart() -> None:
    booked = shelf((1000, TWENTY_OFF)).price_for("acct_a", price("gpt-4o"), AT)
    usages = [Usage(input_tokens=1000, output_tokens=500), Usage(input_tokens=10, output_tokens=3)]
    lines = [(i, u, booked.price(u, AT)) for i, u in enumerate(usages)]
    bill = bill_of(lines, booked, AT)
    listed = sum(price("gpt-4o").price(u, AT).numerator for u in usages)
    assert bill.priced.numerator * 10 == listed * 8
    assert bill.priced.provider_micros == -(-listed // COST_SCALE)
    assert ("book", "family-20@1") in bill.priced.detail
    assert bill.priced.version == price("gpt-4o").card(AT).version  # the list card's


def test_the_same_changes_again_keep_the_booked_prices_and_new_ones_replace_them() -> None:
    books = shelf((1000, TWENTY_OFF))
    first = books.price_for("acct_a", price("gpt-4o"), AT)
    books.load([(1000, read_book_change(TWENTY_OFF, 1, 1000))], {})
    assert books.price_for("acct_a", price("gpt-4o"), AT) is first  # a tick: nothing rebuilt
    books.load([], {})
    assert books.price_for("acct_a", price("gpt-4o"), AT) is price("gpt-4o")


def test_a_call_its_book_cannot_price_exactly_is_refused_by_name_not_rounded() -> None:
    doc = {"books": {"odd": {"adjust_bps": -3}}, "assign": {"accounts": {"a": "odd"}}}
    table = replace(TABLE, books=shelf((1000, doc)))
    with pytest.raises(BookInexact, match="'odd-1' cannot be priced exactly") as refused:
        booked_price(table, price("odd-1"), "a")
    assert refused.value.status == 400 and refused.value.code == "price_book_inexact"
    assert booked_price(table, price("odd-1"), "someone-else") is price("odd-1")
