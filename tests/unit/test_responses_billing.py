"""The Responses API read for billing: usage, tiers, tool runs, and the stream tally."""

from __future__ import annotations

import json
from typing import Any

import pytest

from billing.metering.responses import (
    ResponsesStreamTally,
    is_terminal,
    tool_runs,
    usage_from_response,
)
from billing.metering.usage import Usage
from billing.pricing import PricingError, parse_pricing
from gateway.llm.sse import SSEParser

DOC: dict[str, Any] = {
    "tools": {"web_search_call": "0.01", "file_search_call": "0.0025"},
    "models": {
        "m": {
            "provider": "openai",
            "input": "1.00",
            "cached_input": "0.10",
            "output": "4.00",
            "max_output_tokens": 1000,
            "service_tiers": {"flex": {"input": "0.50", "output": "2.00"}},
        }
    },
}
PRICE = parse_pricing(DOC, frozenset({"openai"})).models["m"]
USAGE = {
    "input_tokens": 1000,
    "input_tokens_details": {"cached_tokens": 400},
    "output_tokens": 100,
    "output_tokens_details": {"reasoning_tokens": 60},
}


def test_tool_runs_count_only_completed_built_in_items() -> None:
    items = [
        {"type": "web_search_call", "status": "completed"},
        {"type": "web_search_call", "status": "failed"},
        {"type": "web_search_call", "status": "in_progress"},
        {"type": "file_search_call", "status": "completed"},
        {"type": "function_call", "status": "completed"},
        {"type": "web_search_call", "status": "completed"},
        "junk",
    ]
    assert tool_runs(items) == (("file_search_call", 1), ("web_search_call", 2))
    assert tool_runs(None) == ()


def test_usage_reads_cache_reasoning_tier_and_runs() -> None:
    response = {
        "status": "completed",
        "service_tier": "flex",
        "usage": USAGE,
        "output": [{"type": "web_search_call", "status": "completed"}],
    }
    usage = usage_from_response(response)
    assert usage == Usage(
        input_tokens=600,
        cached_input_tokens=400,
        output_tokens=100,
        reasoning_tokens=60,
        tool_runs=(("web_search_call", 1),),
        service_tier="flex",
    )
    # flex: 600 x 0.50 + 400 x 0.10 (cached keeps the base rate) + 100 x 2.00 = 540 micros,
    # plus one search at 10_000 micros.
    assert PRICE.cost_micros(usage) == 540 + 10_000
    assert usage_from_response({"status": "queued", "usage": None}) is None


def test_default_and_unpriced_tiers_bill_the_base_price() -> None:
    base = Usage(input_tokens=600, cached_input_tokens=400, output_tokens=100)
    assert PRICE.cost_micros(base) == 600 + 40 + 400
    assert PRICE.cost_micros(Usage(600, 400, 0, 100, service_tier="scale")) == 1040
    assert usage_from_response({"service_tier": "default", "usage": USAGE}) is not None


def test_reservation_takes_the_dearer_of_base_and_requested_tier() -> None:
    # base: 1000 x 1.00 + 100 x 4.00 = 1400 micros; flex is cheaper, an unpriced tier is base
    assert PRICE.worst_case_micros(1000, 100) == 1400
    assert PRICE.worst_case_micros(1000, 100, "flex") == 1400
    assert PRICE.worst_case_micros(1000, 100, "scale") == 1400
    dear = parse_pricing(
        {"models": {"m": {**DOC["models"]["m"], "service_tiers": {"priority": {"output": "9"}}}}},
        frozenset({"openai"}),
    ).models["m"]
    # priority: 1000 x 1.00 (input at the base rate) + 100 x 9.00 = 1900 micros
    assert dear.worst_case_micros(1000, 100, "priority") == 1900
    assert dear.worst_case_micros(1000, 100) == 1400


@pytest.mark.parametrize(
    ("tools", "tiers"),
    [
        ({"web_search_call": 0.01}, {}),
        ("cheap", {}),
        ({}, {"flex": {"inputs": "1"}}),
        ({}, {"flex": "1"}),
        ({}, "flex"),
    ],
)
def test_bad_tool_fees_and_tiers_fail_the_boot(tools: object, tiers: object) -> None:
    model = {**DOC["models"]["m"], "service_tiers": tiers}
    with pytest.raises(PricingError):
        parse_pricing({"tools": tools, "models": {"m": model}}, frozenset({"openai"}))


def sse(kind: str, **fields: object) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **fields})}\n\n".encode()


STREAM = [
    sse("response.created", response={"id": "resp_1", "status": "in_progress"}),
    sse("response.output_item.done", item={"type": "web_search_call", "status": "completed"}),
    sse("response.output_text.delta", delta="Hello"),
    sse("response.function_call_arguments.delta", delta='{"a": 1}'),
    sse("response.output_text.delta", delta=" world"),
]
DONE = sse(
    "response.completed",
    response={"id": "resp_1", "status": "completed", "usage": USAGE, "output": []},
)


def run(tally: ResponsesStreamTally, chunks: list[bytes]) -> bytes:
    stream, parser, forwarded = b"".join(chunks), SSEParser(), b""
    for start in range(0, len(stream), 7):
        for event in parser.feed(stream[start : start + 7]):
            forwarded += event.raw if tally.feed(event) else b""
    return forwarded


def test_stream_tally_forwards_everything_and_bills_the_terminal_event() -> None:
    tally = ResponsesStreamTally()
    assert run(tally, [*STREAM, DONE]) == b"".join([*STREAM, DONE])
    assert tally.done and tally.usage_final and tally.stored_id == "resp_1"
    assert tally.text_parts == ["Hello", '{"a": 1}', " world"]
    reported = tally.reported()
    assert reported is not None and reported.output_tokens == 100
    assert tally.tool_runs == ()  # the terminal object's output is the authority


def test_cut_stream_keeps_the_tool_runs_it_saw() -> None:
    tally = ResponsesStreamTally()
    run(tally, STREAM)
    assert not tally.done and tally.reported() is None
    assert tally.tool_runs == (("web_search_call", 1),)


def test_error_and_malformed_events_are_flagged() -> None:
    tally = ResponsesStreamTally()
    run(tally, [sse("error", code="server_error", message="boom")])
    assert tally.error == {"code": "server_error", "message": "boom"}
    broken = ResponsesStreamTally()
    run(broken, [b'event: response.output_text.delta\ndata: {"type\n\n'])
    assert broken.malformed


def test_a_type_that_is_not_text_is_malformed_not_a_crash() -> None:
    """A hostile provider's `type` may be any JSON: an object or list is unhashable, and the
    event is malformed (nothing after it forwarded), never a TypeError in the relay."""
    for odd in ({"a": 1}, ["response.completed"], 5):
        tally = ResponsesStreamTally()
        body = json.dumps({"type": odd, "response": {"status": "completed", "usage": USAGE}})
        run(tally, [STREAM[0], f"data: {body}\n\n".encode()])
        assert tally.malformed and not tally.done
    assert not is_terminal({"status": {"completed": True}})
    assert tool_runs([{"type": ["web_search_call"], "status": "completed"}]) == ()
