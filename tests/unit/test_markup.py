"""Markups for resellers (billing): a plan's markup_bps, an account's override, and the one
upward rounding per request, after the markup."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.money.micros import COST_SCALE, charge, marked_up, within
from billing.money.plans import PlanError, parse_plans, resolved_markup


def _plans(**fields: object) -> dict[str, object]:
    return {"plans": {"reseller": {"mode": "prepaid", **fields}}}


def test_a_plan_carries_its_markup() -> None:
    book = parse_plans(_plans(markup_bps=2000))
    assert book.plans["reseller"].markup_bps == 2000
    assert parse_plans(_plans()).plans["reseller"].markup_bps == 0


@pytest.mark.parametrize("bad", [-1, 1.5, "2000", True, 1_000_001])
def test_a_markup_is_a_whole_number_of_basis_points(bad: object) -> None:
    with pytest.raises(PlanError, match="markup_bps"):
        parse_plans(_plans(markup_bps=bad))


def test_an_account_override_beats_its_plan() -> None:
    plan = parse_plans(_plans(markup_bps=2000)).plans["reseller"]
    assert resolved_markup(plan, None) == 2000
    assert resolved_markup(plan, 500) == 500
    assert resolved_markup(plan, 0) == 0  # an override of nothing is still an override
    assert resolved_markup(None, None) == 0


def test_the_issue_example_450_provider_micros_bill_540() -> None:
    assert charge(450 * COST_SCALE, 2000) == 540


@given(st.integers(0, 10**12), st.integers(0, 1_000_000))
def test_a_marked_up_hold_covers_every_charge_it_bounds(cost: int, bps: int) -> None:
    """A hold of marked_up(worst case) is never below the charge of a cost within it, and
    within() is the largest worst case whose markup fits a balance."""
    numerator = cost * COST_SCALE
    assert marked_up(cost, bps) >= charge(numerator, bps)
    assert marked_up(cost, bps) == charge(numerator, bps)  # whole micros: the same rounding
    assert marked_up(within(cost, bps), bps) <= cost < marked_up(within(cost, bps) + 1, bps)


@given(st.integers(0, COST_SCALE * 10**6), st.integers(0, 1_000_000))
def test_one_upward_rounding_after_the_markup(numerator: int, bps: int) -> None:
    exact = numerator * (10_000 + bps)
    got = charge(numerator, bps)
    assert (got - 1) * COST_SCALE * 10_000 < exact <= got * COST_SCALE * 10_000
