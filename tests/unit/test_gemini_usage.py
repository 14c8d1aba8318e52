"""Gemini's usageMetadata as billed usage, and its SSE stream read event by event."""

from __future__ import annotations

import orjson

from billing.metering.gemini import (
    GeminiStreamTally,
    answer_usage,
    candidate_texts,
    usage_from_gemini,
)
from billing.metering.usage import Usage
from gateway.llm.sse import SSEParser


def test_each_field_lands_where_it_is_billed() -> None:
    usage = usage_from_gemini(
        {
            "promptTokenCount": 1000,
            "cachedContentTokenCount": 200,
            "toolUsePromptTokenCount": 50,
            "candidatesTokenCount": 300,
            "thoughtsTokenCount": 100,
        }
    )
    assert usage == Usage(
        input_tokens=850, cached_input_tokens=200, output_tokens=400, reasoning_tokens=100
    )


def test_malformed_or_missing_usage_is_none_never_zero() -> None:
    assert usage_from_gemini({"candidatesTokenCount": 3}) is None
    assert usage_from_gemini({"promptTokenCount": -1}) is None
    assert usage_from_gemini({"promptTokenCount": 5, "thoughtsTokenCount": "7"}) is None
    assert answer_usage({"candidates": []}) is None


def test_cached_tokens_never_exceed_the_prompt() -> None:
    usage = usage_from_gemini({"promptTokenCount": 10, "cachedContentTokenCount": 50})
    assert usage is not None and (usage.input_tokens, usage.cached_input_tokens) == (0, 10)


def _event(chunk: dict[str, object]) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\r\n\r\n"


def _answer(text: str, usage: dict[str, int], finish: bool) -> dict[str, object]:
    candidate: dict[str, object] = {"content": {"parts": [{"text": text}], "role": "model"}}
    if finish:
        candidate["finishReason"] = "STOP"
    return {"candidates": [candidate], "usageMetadata": usage}


def test_the_stream_is_final_at_the_finish_reason_split_anywhere() -> None:
    wire = _event(_answer("Hel", {"promptTokenCount": 9}, False)) + _event(
        _answer("lo", {"promptTokenCount": 9, "candidatesTokenCount": 2}, True)
    )
    for cut in range(1, len(wire)):
        parser, tally = SSEParser(), GeminiStreamTally()
        finals = []
        for piece in (wire[:cut], wire[cut:]):
            for event in parser.feed(piece):
                assert tally.feed(event)
                finals.append(tally.usage_final)
        assert finals == [False, True] and tally.done
        assert tally.finish_reasons() == ("STOP",)  # the final event's, as a plain answer's
        assert tally.text_parts == ["Hel", "lo"]
        assert tally.reported() == Usage(input_tokens=9, output_tokens=2)


def test_an_error_event_and_bad_json_are_flagged() -> None:
    tally = GeminiStreamTally()
    [event] = SSEParser().feed(_event({"error": {"code": 500, "message": "boom"}}))
    tally.feed(event)
    assert tally.error == {"code": 500, "message": "boom"}
    [bad] = SSEParser().feed(b"data: {nope\n\n")
    tally.feed(bad)
    assert tally.malformed


def test_function_calls_are_counted_as_text() -> None:
    answer = {"candidates": [{"content": {"parts": [{"functionCall": {"name": "f"}}]}}]}
    assert candidate_texts(answer) == ['{"name":"f"}']
