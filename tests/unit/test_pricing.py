"""The pricing table: validation at start-up, exact per-request cost, safe reservations.

The table shipped in config/ is checked in test_pricing_shipped.py."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from billing.metering.usage import Usage, usage_from_anthropic, usage_from_openai
from billing.pricing import ModelPrice, PricingError, load_pricing, parse_pricing

PROVIDERS = frozenset({"openai", "anthropic", "google", "deepseek", "mistral"})
MISSING = object()


def entry(**overrides: object) -> dict[str, object]:
    """A valid chat model entry; an override of MISSING removes the key."""
    base: dict[str, object] = {
        "provider": "openai",
        "input": "0.15",
        "output": "0.60",
        "max_output_tokens": 16384,
    }
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not MISSING}


def own(models: dict[str, Any]) -> dict[str, Any]:
    """A pricing document of the operator's models alone, the catalogue not served."""
    return {"catalogue": {"serve": False}, "models": models}


def model(name: str = "m", **overrides: object) -> ModelPrice:
    price = parse_pricing(own({name: entry(**overrides)}), PROVIDERS).lookup(name)
    assert price is not None
    return price


def usd(rate: int) -> str:
    """Rate units (micro-USD per 1M tokens) as the decimal string pricing.toml holds."""
    return f"{rate // 1_000_000}.{rate % 1_000_000:06d}"


MINI = model("gpt-4o-mini", cached_input="0.075")
CLAUDE = model(
    "claude", provider="anthropic", input="3", cached_input="0.30", cache_write="3.75", output="15"
)


# ---------------------------------------------------------------- cost


def test_gpt_4o_mini_thousand_in_five_hundred_out() -> None:
    # 1000 x 150_000 + 500 x 600_000 = 450_000_000 rate units = 450 micros exactly.
    assert MINI.cost_micros(Usage(input_tokens=1000, output_tokens=500)) == 450


def test_one_input_token_rounds_up_to_one_micro() -> None:
    assert MINI.cost_micros(Usage(input_tokens=1)) == 1


def test_rounding_happens_once_per_request_not_per_field() -> None:
    # 150_000 + 600_000 rate units: 0.75 micro -> 1, where per-field rounding would give 2.
    assert MINI.cost_micros(Usage(input_tokens=1, output_tokens=1)) == 1


def test_empty_usage_costs_nothing() -> None:
    assert MINI.cost_micros(Usage()) == 0


def test_cached_tokens_cost_the_cached_rate() -> None:
    assert MINI.cost_micros(Usage(cached_input_tokens=1000)) == 75
    assert MINI.cost_micros(Usage(input_tokens=1000, cached_input_tokens=1000)) == 225


def test_cache_writes_cost_the_cache_write_rate() -> None:
    assert CLAUDE.cost_micros(Usage(cache_write_tokens=1000)) == 3750
    assert CLAUDE.cost_micros(Usage(cached_input_tokens=1000)) == 300
    usage = usage_from_anthropic(
        {
            "input_tokens": 100,
            "cache_creation_input_tokens": 1000,
            "cache_read_input_tokens": 10_000,
            "output_tokens": 200,
        }
    )
    assert usage is not None
    assert CLAUDE.cost_micros(usage) == 300 + 3750 + 3000 + 3000


def test_reasoning_tokens_are_billed_once_inside_output() -> None:
    usage = usage_from_openai(
        {
            "prompt_tokens": 1000,
            "completion_tokens": 500,
            "completion_tokens_details": {"reasoning_tokens": 400},
        }
    )
    assert usage is not None
    assert MINI.cost_micros(usage) == 450


rates = st.integers(min_value=0, max_value=10**9)
tokens = st.integers(min_value=0, max_value=10**7)
caps = st.integers(min_value=0, max_value=200_000)


@st.composite
def prices(draw: st.DrawFn) -> ModelPrice:
    rates = draw(st.lists(st.integers(min_value=0, max_value=10**9), min_size=4, max_size=4))
    fields = ("input", "cached_input", "cache_write", "output")
    return model(**dict(zip(fields, map(usd, rates), strict=True)), max_output_tokens=draw(caps))


def rate(price: ModelPrice, key: str) -> int:
    """The base rate of `key` (micro-USD per 1M), the input rate where the key has none."""
    rates = price.card().bands[0].rates
    return rates.get(key, rates["input_mtok"])


usages = st.builds(
    Usage,
    input_tokens=tokens,
    cached_input_tokens=tokens,
    cache_write_tokens=tokens,
    output_tokens=tokens,
    reasoning_tokens=tokens,
)


def exact_cost(price: ModelPrice, usage: Usage) -> Fraction:
    units = (
        usage.input_tokens * rate(price, "input_mtok")
        + usage.cached_input_tokens * rate(price, "cache_read_mtok")
        + usage.cache_write_tokens * rate(price, "cache_write_mtok")
        + usage.output_tokens * rate(price, "output_mtok")
    )
    return Fraction(units, 1_000_000)


@given(prices(), usages)
def test_cost_is_never_below_exact_nor_a_whole_micro_above(price: ModelPrice, usage: Usage) -> None:
    cost = price.cost_micros(usage)
    exact = exact_cost(price, usage)
    assert exact <= cost < exact + 1


# ---------------------------------------------------------------- reservations


@st.composite
def usage_within(draw: st.DrawFn, input_tokens: int, max_output: int) -> Usage:
    cached = draw(st.integers(0, input_tokens))
    written = draw(st.integers(0, input_tokens - cached))
    fresh = draw(st.integers(0, input_tokens - cached - written))
    return Usage(fresh, cached, written, draw(st.integers(0, max_output)))


@given(st.data(), prices(), tokens)
def test_worst_case_covers_any_usage_within_bounds(
    data: st.DataObject, price: ModelPrice, input_tokens: int
) -> None:
    usage = data.draw(usage_within(input_tokens, price.max_output_tokens))
    worst = price.worst_case_micros(input_tokens, price.max_output_tokens)
    assert worst >= price.cost_micros(usage)


def test_worst_case_assumes_the_dearest_input_rate() -> None:
    assert CLAUDE.worst_case_micros(1000, 0) == 3750
    assert MINI.worst_case_micros(1000, 500) == 450


def test_worst_case_covers_a_cached_rate_above_input() -> None:
    odd = model(input="1", cached_input="2")
    assert odd.card().bands[0].dearest_input == 2_000_000 * 9000
    assert odd.worst_case_micros(10, 0) >= odd.cost_micros(Usage(cached_input_tokens=10))


def test_affordable_output_tokens_examples() -> None:
    # 450 micros covers 1000 input (150) and exactly 500 output (300).
    assert MINI.affordable_output_tokens(1000, 450) == 500
    assert MINI.affordable_output_tokens(1000, 449) == 498
    assert MINI.affordable_output_tokens(1000, 150) == 0
    assert MINI.affordable_output_tokens(1000, 149) == 0
    assert MINI.affordable_output_tokens(0, 10**9) == 16384
    assert MINI.affordable_output_tokens(0, -5) == 0


def test_free_output_is_capped_by_max_but_input_must_still_fit() -> None:
    free = model(output="0", max_output_tokens=100)
    assert free.affordable_output_tokens(1000, 150) == 100
    assert free.affordable_output_tokens(1000, 149) == 0


def test_embeddings_afford_no_output() -> None:
    emb = model(kind="embedding", output=MISSING, max_output_tokens=MISSING, input="0.02")
    assert emb.affordable_output_tokens(100, 10**6) == 0
    assert emb.worst_case_micros(1000, 0) == 20


budgets = st.integers(min_value=-10, max_value=10**7)


@given(prices(), tokens, budgets)
def test_affordable_output_tokens_is_the_largest_that_fits(
    price: ModelPrice, input_tokens: int, budget: int
) -> None:
    n = price.affordable_output_tokens(input_tokens, budget)
    assert 0 <= n <= price.max_output_tokens
    if price.worst_case_micros(input_tokens, 0) > budget:
        assert n == 0
        return
    assert price.worst_case_micros(input_tokens, n) <= budget
    if n < price.max_output_tokens:
        assert price.worst_case_micros(input_tokens, n + 1) > budget


@given(prices(), tokens, budgets, budgets)
def test_affordable_output_tokens_grows_with_budget(
    price: ModelPrice, input_tokens: int, low: int, high: int
) -> None:
    assume(low <= high)
    low_n = price.affordable_output_tokens(input_tokens, low)
    assert low_n <= price.affordable_output_tokens(input_tokens, high)


@given(prices(), tokens, tokens, budgets)
def test_affordable_output_tokens_shrinks_with_input(
    price: ModelPrice, fewer: int, more: int, budget: int
) -> None:
    assume(fewer <= more)
    fewer_n = price.affordable_output_tokens(fewer, budget)
    assert fewer_n >= price.affordable_output_tokens(more, budget)


# ---------------------------------------------------------------- parsing


def test_defaults() -> None:
    price = model("x", input="1.25")
    fresh = price.cost_micros(Usage(input_tokens=1000))
    assert fresh == 1250
    assert price.cost_micros(Usage(cached_input_tokens=1000)) == fresh
    assert price.cost_micros(Usage(cache_write_tokens=1000)) == fresh
    assert price.upstream_model == "x"
    assert price.kind == "chat"
    assert price.encoding == "o200k_base"


def test_embedding_defaults_to_no_output() -> None:
    emb = model(kind="embedding", output=MISSING, max_output_tokens=MISSING)
    assert (emb.prices("output_mtok"), emb.max_output_tokens) == (False, 0)


def test_lookup_by_name_and_alias() -> None:
    table = parse_pricing(
        own({"b": entry(aliases=["b-2025"], upstream="b-up"), "a": entry()}), PROVIDERS
    )
    assert table.lookup("b-2025") is table.lookup("b")
    assert table.lookup("b") is not None
    assert table.lookup("b").upstream_model == "b-up"  # type: ignore[union-attr]
    assert table.lookup("c") is None
    assert table.names() == ["a", "b"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("provider", MISSING),
        ("provider", "azure"),
        ("provider", 3),
        ("kind", "video"),
        ("kind", 1),
        ("encoding", "p50k_base"),
        ("encoding", None),
        ("max_output_tokens", MISSING),
        ("max_output_tokens", -1),
        ("max_output_tokens", "100"),
        ("max_output_tokens", 1.5),
        ("max_output_tokens", True),
        ("input", MISSING),
        ("output", MISSING),
        ("upstream", ""),
        ("upstream", 5),
        ("aliases", "abc"),
        ("aliases", 5),
        ("aliases", [1]),
        ("aliases", [""]),
        ("kind", ["chat"]),
        ("encoding", {"name": "o200k_base"}),
        ("provider", ["openai"]),
    ],
)
def test_invalid_fields_name_model_and_field(field: str, value: object) -> None:
    with pytest.raises(PricingError, match=rf"'bad'.*{field}"):
        parse_pricing(own({"bad": entry(**{field: value})}), PROVIDERS)


@pytest.mark.parametrize("field", ["input", "cached_input", "cache_write", "output"])
@pytest.mark.parametrize(
    "value", [0.15, 1, True, "0.0000001", "abc", "", "-1", "-0.01", "NaN", "inf", ["1"]]
)
def test_invalid_rates_name_model_and_field(field: str, value: object) -> None:
    with pytest.raises(PricingError, match=rf"'bad'.*'{field}'"):
        parse_pricing(own({"bad": entry(**{field: value})}), PROVIDERS)


def test_unknown_fields_are_rejected_so_typos_fail_the_boot() -> None:
    with pytest.raises(PricingError, match=r"'bad'.*cache_writes"):
        parse_pricing(own({"bad": entry(cache_writes="3.75")}), PROVIDERS)


def test_provider_must_be_one_the_gateway_knows() -> None:
    with pytest.raises(PricingError, match="provider"):
        parse_pricing(own({"m": entry()}), frozenset({"anthropic"}))


@pytest.mark.parametrize("models", [{}, 3, []])
def test_a_table_without_models_is_rejected(models: object) -> None:
    doc = {"catalogue": {"serve": False}, "models": models}
    with pytest.raises(PricingError, match=r"no model|\[models\] must be a table"):
        parse_pricing(doc, PROVIDERS)


def test_a_model_must_be_a_table() -> None:
    with pytest.raises(PricingError, match=r"'m'.*table"):
        parse_pricing(own({"m": "gpt-4o"}), PROVIDERS)


@pytest.mark.parametrize(
    "models",
    [
        {"a": entry(aliases=["x"]), "b": entry(aliases=["x"])},
        {"a": entry(aliases=["x", "x"])},
        {"a": entry(aliases=["b"]), "b": entry()},
        {"a": entry(), "b": entry(aliases=["a"])},
        {"a": entry(aliases=["a"])},
    ],
)
def test_an_alias_may_not_be_defined_twice(models: dict[str, Any]) -> None:
    with pytest.raises(PricingError, match="defined twice"):
        parse_pricing(own(models), PROVIDERS)


def test_load_pricing_reports_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(PricingError, match="cannot read"):
        load_pricing(tmp_path / "absent.toml", PROVIDERS)


def test_load_pricing_reports_bad_toml(tmp_path: Path) -> None:
    path = tmp_path / "pricing.toml"
    path.write_text('[models."m"\ninput = "1"\n')
    with pytest.raises(PricingError, match="cannot read"):
        load_pricing(path, PROVIDERS)


def test_load_pricing_rejects_float_prices(tmp_path: Path) -> None:
    path = tmp_path / "pricing.toml"
    path.write_text(
        '[catalogue]\nserve = false\n[models.m]\nprovider = "openai"\nmax_output_tokens = 8\n'
        "input = 0.15\n"
    )
    with pytest.raises(PricingError, match=r"'m'.*'input'.*decimal string"):
        load_pricing(path, PROVIDERS)
