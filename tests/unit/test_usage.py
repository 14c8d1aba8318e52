"""Provider usage objects normalised to disjoint input fields; odd values never raise.

Usage that fails validation is None (issue 10, item 3): the gateway then counts the tokens
itself, where it used to bill the odd fields as zero."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing import values
from billing.metering.usage import MAX_USAGE_TOKENS, Usage, usage_from_anthropic, usage_from_openai
from tests.unit.test_hot_values import FROZEN

ODD_VALUES: list[object] = [-1, -1000, True, False, 1.5, 12.0, "12", [], {}, 10**18, 1e6]


def test_usage_defaults_and_totals() -> None:
    assert Usage() == Usage(0, 0, 0, 0, 0, "provider")
    usage = Usage(input_tokens=10, cached_input_tokens=20, cache_write_tokens=30, output_tokens=4)
    assert usage.total_input_tokens == 60
    assert usage.total_tokens == 64


def test_reasoning_tokens_are_not_added_to_totals() -> None:
    usage = Usage(input_tokens=10, output_tokens=50, reasoning_tokens=40)
    assert usage.total_tokens == 60


def test_usage_is_frozen() -> None:
    with pytest.raises(FROZEN):
        Usage().input_tokens = 1  # type: ignore[misc]


def test_openai_chat_usage() -> None:
    usage = usage_from_openai(
        {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
    )
    assert usage == Usage(input_tokens=1000, output_tokens=500)
    assert usage.source == "provider"


def test_openai_cached_tokens_are_split_out_of_prompt_tokens() -> None:
    usage = usage_from_openai(
        {
            "prompt_tokens": 2006,
            "completion_tokens": 300,
            "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
        }
    )
    assert usage is not None
    assert usage.input_tokens == 86
    assert usage.cached_input_tokens == 1920
    assert usage.total_input_tokens == 2006


def test_openai_reasoning_is_informational_and_output_keeps_completion_tokens() -> None:
    usage = usage_from_openai(
        {
            "prompt_tokens": 75,
            "completion_tokens": 1186,
            "completion_tokens_details": {"reasoning_tokens": 1024, "audio_tokens": 0},
        }
    )
    assert usage is not None
    assert usage.output_tokens == 1186
    assert usage.reasoning_tokens == 1024
    assert usage.total_tokens == 75 + 1186


def test_openai_responses_api_spelling() -> None:
    usage = usage_from_openai(
        {
            "input_tokens": 500,
            "input_tokens_details": {"cached_tokens": 400},
            "output_tokens": 900,
            "output_tokens_details": {"reasoning_tokens": 600},
            "total_tokens": 1400,
        }
    )
    assert usage == Usage(
        input_tokens=100, cached_input_tokens=400, output_tokens=900, reasoning_tokens=600
    )


def test_openai_embeddings_usage_has_no_completion_tokens() -> None:
    usage = usage_from_openai({"prompt_tokens": 8, "total_tokens": 8}, output_required=False)
    assert usage == Usage(input_tokens=8)


def test_openai_empty_usage_is_absent() -> None:
    assert usage_from_openai({}) is None
    assert usage_from_openai({"prompt_tokens": 5}) is None  # a chat answer with no output count


@pytest.mark.parametrize("value", [*ODD_VALUES, None])
def test_openai_odd_top_level_values_make_usage_absent(value: object) -> None:
    assert usage_from_openai({"prompt_tokens": value, "completion_tokens": value}) is None
    assert usage_from_openai({"prompt_tokens": 3, "completion_tokens": value}) is None


@pytest.mark.parametrize("value", ODD_VALUES)
def test_openai_odd_detail_values_make_usage_absent(value: object) -> None:
    usage = usage_from_openai(
        {
            "prompt_tokens": 100,
            "completion_tokens": 10,
            "prompt_tokens_details": {"cached_tokens": value},
            "completion_tokens_details": {"reasoning_tokens": value},
        }
    )
    assert usage is None


@pytest.mark.parametrize("details", [None, {}, {"other": 3}])
def test_openai_missing_details_count_as_zero(details: object) -> None:
    usage = usage_from_openai(
        {
            "prompt_tokens": 100,
            "completion_tokens": 10,
            "prompt_tokens_details": details,
            "completion_tokens_details": details,
        }
    )
    assert usage == Usage(input_tokens=100, output_tokens=10)


def test_openai_cached_tokens_never_exceed_prompt_tokens() -> None:
    usage = usage_from_openai(
        {
            "prompt_tokens": 10,
            "completion_tokens": 0,
            "prompt_tokens_details": {"cached_tokens": 50},
        }
    )
    assert usage == Usage(input_tokens=0, cached_input_tokens=10)


def test_openai_cached_tokens_without_prompt_tokens_are_absent() -> None:
    assert usage_from_openai({"prompt_tokens_details": {"cached_tokens": 50}}) is None


@pytest.mark.parametrize("details", [[], "cached", 5])
def test_openai_malformed_details_make_usage_absent(details: object) -> None:
    obj = {"prompt_tokens": 100, "completion_tokens": 10, "prompt_tokens_details": details}
    assert usage_from_openai(obj) is None


def test_anthropic_usage() -> None:
    usage = usage_from_anthropic({"input_tokens": 25, "output_tokens": 120})
    assert usage == Usage(input_tokens=25, output_tokens=120)


def test_anthropic_cache_reads_and_writes_are_disjoint_from_input() -> None:
    usage = usage_from_anthropic(
        {
            "input_tokens": 50,
            "cache_creation_input_tokens": 2000,
            "cache_read_input_tokens": 8000,
            "output_tokens": 300,
            "cache_creation": {"ephemeral_5m_input_tokens": 2000, "ephemeral_1h_input_tokens": 0},
            "server_tool_use": None,
            "service_tier": "standard",
        }
    )
    assert usage == Usage(
        input_tokens=50, cached_input_tokens=8000, cache_write_tokens=2000, output_tokens=300
    )
    assert usage.total_input_tokens == 10_050


def test_anthropic_usage_without_input_is_absent() -> None:
    assert usage_from_anthropic({"output_tokens": 15}) is None


def test_anthropic_empty_usage_is_absent() -> None:
    assert usage_from_anthropic({}) is None


@pytest.mark.parametrize("value", [*ODD_VALUES, None])
def test_anthropic_odd_values_make_usage_absent(value: object) -> None:
    usage = usage_from_anthropic(
        {
            "input_tokens": value,
            "cache_creation_input_tokens": value,
            "cache_read_input_tokens": value,
            "output_tokens": value,
        }
    )
    assert usage is None


counts = st.integers(min_value=0, max_value=10**9)


@given(prompt=counts, cached=counts, completion=counts, reasoning=counts)
def test_openai_input_fields_partition_prompt_tokens(
    prompt: int, cached: int, completion: int, reasoning: int
) -> None:
    usage = usage_from_openai(
        {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "prompt_tokens_details": {"cached_tokens": cached},
            "completion_tokens_details": {"reasoning_tokens": reasoning},
        }
    )
    assert usage is not None
    assert usage.total_input_tokens == prompt
    assert usage.cached_input_tokens == min(cached, prompt)
    assert usage.output_tokens == completion
    assert usage.cache_write_tokens == 0


scalars = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text("0123456789.-e", max_size=3)
)
details = st.dictionaries(st.sampled_from(["cached_tokens", "reasoning_tokens", "x"]), scalars)
json_values = scalars | st.lists(scalars, max_size=2) | details
usage_keys = st.sampled_from(
    [
        "prompt_tokens",
        "completion_tokens",
        "input_tokens",
        "output_tokens",
        "prompt_tokens_details",
        "completion_tokens_details",
        "input_tokens_details",
        "output_tokens_details",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
    ]
)


# Usage's fields with their defaults: the counts are those whose default is an int (0).
INT_FIELDS = list(values.fields(Usage()).items())


@given(st.dictionaries(usage_keys, json_values))
def test_parsers_never_raise_and_never_go_negative(obj: dict[str, object]) -> None:
    for usage in (usage_from_openai(obj), usage_from_anthropic(obj)):
        if usage is not None:
            ints = [name for name, zero in INT_FIELDS if type(zero) is int]  # both builds
            fields = [getattr(usage, name) for name in ints]
            assert len(fields) == 5
            assert all(type(v) is int and 0 <= v <= MAX_USAGE_TOKENS for v in fields)
