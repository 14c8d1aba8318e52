"""A cache hit's price under each policy, in exact micros, and the policy's own checks."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.cache import (
    HIT_KIND,
    CachePolicy,
    CachePolicyError,
    HitPolicy,
    hit_cost_micros,
    parse_hit_policy,
)


@pytest.mark.parametrize(
    ("text", "policy"),
    [
        ("free", HitPolicy("free")),
        ("full", HitPolicy("full")),
        ("percent:2500", HitPolicy("percent", 2500)),
        ("percent:0", HitPolicy("percent", 0)),
        ("percent:10000", HitPolicy("percent", 10_000)),
        ("fixed:1500", HitPolicy("fixed", 1500)),
        ("fixed:0", HitPolicy("fixed", 0)),
    ],
)
def test_a_policy_is_read_and_written_back(text: str, policy: HitPolicy) -> None:
    assert parse_hit_policy(text) == policy
    assert str(policy) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Free",
        " full",
        "percent",
        "percent:",
        "percent:10001",
        "percent:-1",
        "percent:25.5",
        "percent:2_500",
        "percent:٣",
        "fixed:-1",
        "fixed:1.5",
        "fixed:99999999999999999",
        "free:0",
        "half",
        1500,
        None,
        ["free"],
    ],
)
def test_anything_else_is_refused_naming_it(text: object) -> None:
    with pytest.raises(CachePolicyError, match="cache hit policy") as refused:
        parse_hit_policy(text)
    assert repr(text) in str(refused.value) or "cannot take" in str(refused.value)


def test_a_policy_value_is_checked_when_built() -> None:
    for kind, amount in [("percent", 10_001), ("fixed", -1), ("free", 5), ("full", 1)]:
        with pytest.raises(CachePolicyError):
            HitPolicy(kind, amount)  # type: ignore[arg-type]
    with pytest.raises(CachePolicyError):
        HitPolicy("half")  # type: ignore[arg-type]


def test_each_kind_prices_a_hit() -> None:
    assert hit_cost_micros(HitPolicy("free"), 12_345) == 0
    assert hit_cost_micros(HitPolicy("full"), 12_345) == 12_345
    assert hit_cost_micros(HitPolicy("fixed", 1500), 12_345) == 1500
    assert hit_cost_micros(HitPolicy("fixed", 1500), 0) == 1500
    assert hit_cost_micros(HitPolicy("percent", 2500), 12_345) == 3087  # 3086.25 up


def test_a_percentage_rounds_up_once_in_integers() -> None:
    assert hit_cost_micros(HitPolicy("percent", 1), 1) == 1
    assert hit_cost_micros(HitPolicy("percent", 1), 0) == 0
    assert hit_cost_micros(HitPolicy("percent", 0), 10**15) == 0
    assert hit_cost_micros(HitPolicy("percent", 10_000), 987_654_321) == 987_654_321
    # a float would lose this one: 0.3 * 10**17 is 29999999999999996 in doubles
    assert hit_cost_micros(HitPolicy("percent", 3000), 10**17) == 3 * 10**16


def test_a_negative_cost_is_a_bug() -> None:
    with pytest.raises(ValueError, match="negative"):
        hit_cost_micros(HitPolicy("full"), -1)


@given(st.integers(0, 10_000), st.integers(0, 10**18))
def test_a_percentage_is_never_below_the_exact_share_nor_a_micro_above(bps: int, full: int) -> None:
    exact = Fraction(full * bps, 10_000)
    cost = hit_cost_micros(HitPolicy("percent", bps), full)
    assert isinstance(cost, int)
    assert exact <= cost < exact + 1
    assert cost <= full


def test_a_cache_policy_is_off_and_bills_in_full_by_default() -> None:
    policy = CachePolicy()
    assert not policy.enabled
    assert policy.scope == "account"
    assert policy.hit == HitPolicy("full")
    assert not policy.allow_nonzero_temperature
    assert policy.max_ttl_s == 3600
    assert not policy.count_tokens_on_hit
    assert HIT_KIND == "cache_hit"
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.enabled = True  # type: ignore[misc]


@pytest.mark.parametrize(
    "changes",
    [
        {"scope": "everyone"},
        {"scope": "end_user"},
        {"max_ttl_s": 0},
        {"max_ttl_s": -5},
        {"max_entry_bytes": 0},
        {"account_bytes": 0},
        {"max_entry_bytes": 2048, "account_bytes": 1024},
    ],
)
def test_a_cache_policy_refuses_what_cannot_work(changes: dict[str, object]) -> None:
    with pytest.raises(CachePolicyError):
        CachePolicy(**changes)  # type: ignore[arg-type]
