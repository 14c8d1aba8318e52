"""Endpoints are values: each carries what the proxy, relay and meter need to know."""

from __future__ import annotations

import orjson
import pytest

from billing.metering.tokens import TokenCounter
from billing.pricing import load_pricing
from gateway.config.settings import DEFAULT_CONFIG_DIR, PROVIDERS
from gateway.errors import InvalidRequest, ModelNotFound
from gateway.llm.endpoints import CHAT, COMPLETIONS, EMBEDDINGS, MESSAGES, openai_error_event
from gateway.llm.reading.calls import read_call, upstream_body
from gateway.stores.records import KeyRecord
from tests.unit.test_hot_values import FROZEN

PRICING = load_pricing(DEFAULT_CONFIG_DIR / "pricing.toml", frozenset(PROVIDERS))
COUNTER = TokenCounter()
KEY = KeyRecord("k", "a", 0, "k", (), ())
CHAT_BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def test_call_is_frozen_and_clamping_makes_a_new_one() -> None:
    call = read_call(CHAT, {**CHAT_BODY, "n": 2, "max_tokens": 100}, KEY, PRICING, COUNTER)
    assert call.max_output_tokens == 200
    with pytest.raises(FROZEN):
        call.max_output_tokens = 1  # type: ignore[misc]
    lower = call.clamped(50)
    assert (lower.max_output_tokens, lower.body["max_tokens"]) == (50, 25)
    assert call.body["max_tokens"] == 100
    assert orjson.loads(upstream_body(lower))["max_tokens"] == 25  # forwarded as priced


def test_messages_clamps_its_own_field_and_embeddings_do_not_clamp() -> None:
    body = {"model": "claude-haiku-4-5", "max_tokens": 900, "messages": [{"role": "user"}]}
    call = read_call(MESSAGES, body, KEY, PRICING, COUNTER)
    assert call.clamped(300).body["max_tokens"] == 300
    assert not EMBEDDINGS.clamps and CHAT.clamps


def test_wire_decides_which_models_an_endpoint_serves() -> None:
    with pytest.raises(ModelNotFound, match="not an Anthropic model"):
        read_call(MESSAGES, {**CHAT_BODY, "max_tokens": 5}, KEY, PRICING, COUNTER)
    with pytest.raises(ModelNotFound, match="/v1/messages only"):
        read_call(CHAT, {**CHAT_BODY, "model": "claude-haiku-4-5"}, KEY, PRICING, COUNTER)
    with pytest.raises(InvalidRequest, match="max_tokens"):
        read_call(MESSAGES, {"model": "claude-haiku-4-5", "messages": []}, KEY, PRICING, COUNTER)


def test_only_streams_of_usage_asking_endpoints_get_include_usage() -> None:
    call = read_call(
        COMPLETIONS,
        {"model": "gpt-3.5-turbo-instruct", "prompt": "x", "stream": True},
        KEY,
        PRICING,
        COUNTER,
    )
    assert b'"include_usage":true' in upstream_body(call)
    assert COMPLETIONS.asks_stream_usage and not MESSAGES.asks_stream_usage


def test_openai_error_event_ends_with_the_terminator() -> None:
    wire = openai_error_event("boom")
    assert wire.startswith(b"data: {") and wire.endswith(CHAT.stream_end)


def test_responses_reservation_covers_input_instructions_tools_output_and_fees() -> None:
    from gateway.llm.endpoints import RESPONSES

    tools = [{"type": "web_search"}, {"type": "function", "name": "f", "parameters": {}}]
    body = {"model": "gpt-4o", "input": "hi", "instructions": "be terse", "tools": tools}
    call = read_call(RESPONSES, body, KEY, PRICING, COUNTER)
    bare = read_call(RESPONSES, {"model": "gpt-4o", "input": "hi"}, KEY, PRICING, COUNTER)
    assert call.input_tokens > bare.input_tokens
    assert call.max_output_tokens == 16384  # no max_output_tokens: the model's cap
    assert call.fees_micros == 10_000  # one web search run reserved
    capped = read_call(
        RESPONSES, {**body, "max_output_tokens": 50, "max_tool_calls": 3}, KEY, PRICING, COUNTER
    )
    assert (capped.max_output_tokens, capped.fees_micros) == (50, 30_000)
    assert capped.clamped(20).body["max_output_tokens"] == 20
    priority = read_call(RESPONSES, {**body, "service_tier": "priority"}, KEY, PRICING, COUNTER)
    assert priority.worst_case_micros > call.worst_case_micros
    with pytest.raises(InvalidRequest, match="'input' is required"):
        read_call(RESPONSES, {"model": "gpt-4o"}, KEY, PRICING, COUNTER)
    with pytest.raises(ModelNotFound, match="/v1/responses"):
        read_call(RESPONSES, {"model": "gemini-2.5-flash", "input": "x"}, KEY, PRICING, COUNTER)


@pytest.mark.parametrize("value", [[1], {"n": 1}, "100", 1.5, True, 0])
@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_a_max_field_of_the_wrong_type_is_a_400_naming_it(field: str, value: object) -> None:
    """A list or object in a max field used to reach a set comparison and answer 500 (found
    by the fuzz test once small bodies stopped being pre-checked before they were read)."""
    with pytest.raises(InvalidRequest) as caught:
        read_call(CHAT, {**CHAT_BODY, field: value}, KEY, PRICING, COUNTER)
    assert caught.value.param == field


@pytest.mark.parametrize("tier", [["flex"], {"a": 1}, 3])
def test_a_service_tier_that_is_not_a_string_is_a_400(tier: object) -> None:
    """An unhashable tier used to reach a set membership test and answer 500 (fuzz test)."""
    with pytest.raises(InvalidRequest) as caught:
        read_call(CHAT, {**CHAT_BODY, "service_tier": tier}, KEY, PRICING, COUNTER)
    assert caught.value.param == "service_tier"
