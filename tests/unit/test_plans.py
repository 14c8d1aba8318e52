"""Plans: parsing and the upgrade suggestion, with no server."""

from __future__ import annotations

from pathlib import Path

import pytest

from billing.money.plans import PlanError, Upgrade, load_plans, parse_plans

BOOK = parse_plans(
    {
        "default_plan": "free",
        "plans": {
            "free": {"quotas": [{"window": "day", "metric": "tokens", "limit": 100}]},
            "starter": {"quotas": [{"window": "day", "metric": "tokens", "limit": 1000}]},
            "pro": {"quotas": [{"window": "day", "metric": "tokens", "limit": 10000}]},
            "enterprise": {"mode": "postpaid", "quotas": []},
        },
    }
)


def test_upgrade_names_the_cheapest_plan_that_fits() -> None:
    assert BOOK.upgrade_for("free", "day", "tokens", 500) == Upgrade("starter", 1000)
    assert BOOK.upgrade_for("free", "day", "tokens", 5000) == Upgrade("pro", 10000)


def test_a_plan_without_the_window_is_unlimited() -> None:
    assert BOOK.upgrade_for("pro", "day", "tokens", 50_000) == Upgrade("enterprise", None)


def test_no_upgrade_from_the_top_plan() -> None:
    assert BOOK.upgrade_for("enterprise", "day", "tokens", 1) is None


def test_no_upgrade_when_no_plan_fits() -> None:
    book = parse_plans(
        {"plans": {"a": {"quotas": [{"window": "total", "metric": "requests", "limit": 1}]}}}
    )
    assert book.upgrade_for("a", "total", "requests", 2) is None


def test_shipped_plans_file_is_valid_and_ordered() -> None:
    book = load_plans(Path(__file__).parents[2] / "config" / "plans.toml")
    assert list(book.plans) == ["free", "starter", "pro", "enterprise"]
    assert book.default == "free"
    assert book.plans["pro"].on_insufficient == "clamp"
    assert book.plans["enterprise"].mode == "postpaid"
    assert book.upgrade_for("free", "day", "tokens", 200_001) == Upgrade("starter", 2_000_000)


@pytest.mark.parametrize(
    "entry",
    [
        {"mode": "credit"},
        {"on_insufficient": "beg"},
        {"models": "gpt"},
        {"clamp_min_tokens": 0},
        {"clamp_min_tokens": True},
        {"quotas": [{"window": "fortnight", "metric": "tokens", "limit": 1}]},
    ],
)
def test_bad_plan_entries_are_refused(entry: dict[str, object]) -> None:
    with pytest.raises(PlanError):
        parse_plans({"plans": {"x": entry}})


def test_a_misspelt_field_fails_the_start_instead_of_dropping_the_limits() -> None:
    """`quota` for `quotas` used to be ignored: the plan loaded with no limits at all."""
    limits = [{"window": "day", "metric": "requests", "limit": 10}]
    with pytest.raises(PlanError, match=r"plan 'x': unknown field\(s\) \['quota'\]"):
        parse_plans({"plans": {"x": {"mode": "prepaid", "quota": limits}}})
    assert parse_plans({"plans": {"x": {"quotas": limits}}}).plans["x"].quotas


def test_a_plan_that_is_not_a_table_is_refused() -> None:
    with pytest.raises(PlanError, match="plan 'x' must be a table"):
        parse_plans({"plans": {"x": "pro"}})


def test_unknown_default_is_refused() -> None:
    with pytest.raises(PlanError):
        parse_plans({"default_plan": "gold", "plans": {"x": {}}})
