"""Stream tallies: what is forwarded, what is hidden, and what the stream cost."""

from __future__ import annotations

import json

from billing.metering.stream_tally import AnthropicStreamTally, OpenAIStreamTally
from billing.metering.tokens import TokenCounter
from billing.metering.usage import Usage
from gateway.llm.sse import SSEEvent, SSEParser


def sse(obj: object, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(obj)}\n\n".encode()


def chat_chunk(delta: dict[str, object], usage: object = None) -> dict[str, object]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
        "usage": usage,
    }


OPENAI_USAGE = {
    "prompt_tokens": 100,
    "completion_tokens": 30,
    "total_tokens": 130,
    "prompt_tokens_details": {"cached_tokens": 64},
    "completion_tokens_details": {"reasoning_tokens": 12},
}
USAGE_CHUNK = sse({"object": "chat.completion.chunk", "choices": [], "usage": OPENAI_USAGE})
CHAT_STREAM = [
    b": OPENROUTER PROCESSING\n\n",
    sse(chat_chunk({"role": "assistant", "content": ""})),
    sse(chat_chunk({"reasoning_content": "Think. "})),
    sse(chat_chunk({"content": "Hello"})),
    sse(chat_chunk({"content": " world"})),
    sse(chat_chunk({"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": ""}}]})),
    sse(chat_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]})),
    sse(chat_chunk({"tool_calls": [{"index": 0, "function": {"arguments": " 1}"}}]})),
    USAGE_CHUNK,
    b"data: [DONE]\n\n",
]


def run(tally: OpenAIStreamTally | AnthropicStreamTally, chunks: list[bytes]) -> bytes:
    """Parses the stream in awkward 5-byte chunks; returns the bytes forwarded to the client."""
    stream, parser, forwarded = b"".join(chunks), SSEParser(), b""
    for start in range(0, len(stream), 5):
        for event in parser.feed(stream[start : start + 5]):
            forwarded += event.raw if tally.feed(event) else b""
    return forwarded


def test_usage_chunk_is_hidden_from_a_client_that_did_not_ask() -> None:
    tally = OpenAIStreamTally(client_wants_usage=False)
    forwarded = run(tally, CHAT_STREAM)
    assert forwarded == b"".join(c for c in CHAT_STREAM if c is not USAGE_CHUNK)
    assert tally.usage == Usage(
        input_tokens=36, cached_input_tokens=64, output_tokens=30, reasoning_tokens=12
    )
    assert tally.done
    assert tally.chunks_seen == 8
    assert not tally.malformed
    assert tally.error is None


def test_usage_chunk_is_forwarded_to_a_client_that_asked() -> None:
    tally = OpenAIStreamTally(client_wants_usage=True)
    assert run(tally, CHAT_STREAM) == b"".join(CHAT_STREAM)
    assert tally.usage is not None
    assert tally.usage.cached_input_tokens == 64
    assert tally.usage.reasoning_tokens == 12


def test_completion_text_is_collected_from_every_delta_kind() -> None:
    tally = OpenAIStreamTally(client_wants_usage=False)
    run(tally, CHAT_STREAM)
    assert tally.text() == 'Think. Hello worldf{"a": 1}'
    counter = TokenCounter().completion_counter("o200k_base")
    for part in tally.text_parts:
        counter.feed(part)
    assert counter.count() == TokenCounter().count_text("o200k_base", tally.text())


def test_chunk_with_content_and_usage_is_never_hidden() -> None:
    tally = OpenAIStreamTally(client_wants_usage=False)
    event = SSEEvent(b"", None, json.dumps(chat_chunk({"content": "x"}, usage=OPENAI_USAGE)))
    assert tally.feed(event)
    assert tally.usage is not None
    assert tally.text_parts == ["x"]


def test_first_chunk_with_empty_choices_and_no_usage_is_forwarded() -> None:
    tally = OpenAIStreamTally(client_wants_usage=False)
    azure_first = {"choices": [], "prompt_filter_results": [{"prompt_index": 0}], "usage": None}
    assert tally.feed(SSEEvent(b"", None, json.dumps(azure_first)))
    assert tally.usage is None


def test_legacy_completions_stream() -> None:
    tally = OpenAIStreamTally(client_wants_usage=False)
    chunks = [
        sse({"object": "text_completion", "choices": [{"index": 0, "text": "Once upon"}]}),
        sse({"object": "text_completion", "choices": [{"index": 0, "text": " a time"}]}),
        sse(
            {
                "object": "text_completion",
                "choices": [],
                "usage": {"prompt_tokens": 5, "completion_tokens": 3},
            }
        ),
        b"data: [DONE]\n\n",
    ]
    assert run(tally, chunks) == chunks[0] + chunks[1] + chunks[3]
    assert tally.text() == "Once upon a time"
    assert tally.usage == Usage(input_tokens=5, output_tokens=3)


def test_malformed_json_is_forwarded_and_flagged() -> None:
    tally = OpenAIStreamTally(client_wants_usage=False)
    for data in ['{"choices": [', "not json", "[1, 2]", '"a string"', "{}"]:
        assert tally.feed(SSEEvent(b"", None, data))
    assert tally.malformed
    assert tally.chunks_seen == 1
    assert not tally.done


def test_odd_but_valid_chunks_do_not_raise() -> None:
    tally = OpenAIStreamTally(client_wants_usage=False)
    for chunk in [
        {"choices": None},
        {"choices": [None, 1, {"delta": None}, {"delta": {"content": 5, "tool_calls": [7]}}]},
        {"choices": [{"delta": {"tool_calls": [{"function": None}], "reasoning": "r"}}]},
        {"usage": "lots"},
    ]:
        assert tally.feed(SSEEvent(b"", None, json.dumps(chunk)))
    assert tally.text_parts == ["r"]
    assert tally.usage is None


def test_error_chunk_is_captured_and_forwarded() -> None:
    tally = OpenAIStreamTally(client_wants_usage=False)
    error = {"message": "overloaded", "type": "server_error"}
    assert tally.feed(SSEEvent(b"", None, json.dumps({"error": error})))
    assert tally.feed(SSEEvent(b"", None, json.dumps({"error": "plain"})))
    assert tally.error == {"message": "plain"}
    tally = OpenAIStreamTally(client_wants_usage=False)
    tally.feed(SSEEvent(b"", None, json.dumps({"error": error})))
    assert tally.error == error


def test_done_and_comments() -> None:
    tally = OpenAIStreamTally(client_wants_usage=False)
    assert tally.feed(SSEEvent(b": ping\n\n", None, ""))
    assert not tally.done
    assert tally.feed(SSEEvent(b"data:  [DONE] \n\n", None, " [DONE] "))
    assert tally.done
    assert tally.chunks_seen == 0


ANTHROPIC_START = {
    "type": "message_start",
    "message": {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": [],
        "usage": {
            "input_tokens": 25,
            "cache_read_input_tokens": 10,
            "cache_creation_input_tokens": 5,
            "output_tokens": 1,
        },
    },
}


def block_delta(index: int, delta: dict[str, object]) -> bytes:
    return sse(
        {"type": "content_block_delta", "index": index, "delta": delta}, "content_block_delta"
    )


ANTHROPIC_STREAM = [
    sse(ANTHROPIC_START, "message_start"),
    sse(
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": ""},
        },
        "content_block_start",
    ),
    block_delta(0, {"type": "thinking_delta", "thinking": "Let me think. "}),
    block_delta(0, {"type": "signature_delta", "signature": "c2ln"}),
    sse({"type": "ping"}, "ping"),
    sse(
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        "content_block_start",
    ),
    block_delta(1, {"type": "text_delta", "text": "Hello"}),
    block_delta(1, {"type": "text_delta", "text": " there"}),
    sse(
        {
            "type": "content_block_start",
            "index": 2,
            "content_block": {"type": "tool_use", "id": "t", "name": "get", "input": {}},
        },
        "content_block_start",
    ),
    block_delta(2, {"type": "input_json_delta", "partial_json": '{"city": '}),
    block_delta(2, {"type": "input_json_delta", "partial_json": '"Paris"}'}),
    sse(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use"},
            "usage": {"output_tokens": 42},
        },
        "message_delta",
    ),
    sse({"type": "message_stop"}, "message_stop"),
]


def test_anthropic_usage_from_start_and_delta() -> None:
    tally = AnthropicStreamTally()
    assert tally.usage() is None
    assert run(tally, ANTHROPIC_STREAM) == b"".join(ANTHROPIC_STREAM)
    assert tally.usage() == Usage(
        input_tokens=25, cached_input_tokens=10, cache_write_tokens=5, output_tokens=42
    )
    assert tally.output_final
    assert tally.done
    assert tally.text() == 'Let me think. Hello thereget{"city": "Paris"}'
    assert not tally.malformed


def test_anthropic_output_is_provisional_until_message_delta() -> None:
    tally = AnthropicStreamTally()
    run(tally, ANTHROPIC_STREAM[:3])
    assert tally.usage() == Usage(
        input_tokens=25, cached_input_tokens=10, cache_write_tokens=5, output_tokens=1
    )
    assert not tally.output_final
    assert not tally.done


def test_anthropic_message_delta_may_update_input_fields() -> None:
    tally = AnthropicStreamTally()
    newer_delta = {
        "type": "message_delta",
        "delta": {},
        "usage": {
            "input_tokens": 30,
            "cache_read_input_tokens": None,
            "cache_creation_input_tokens": 0,
            "output_tokens": 7,
        },
    }
    run(tally, [sse(ANTHROPIC_START, "message_start"), sse(newer_delta, "message_delta")])
    assert tally.usage() == Usage(input_tokens=30, cached_input_tokens=10, output_tokens=7)


def test_anthropic_delta_without_start_gives_no_usage() -> None:
    tally = AnthropicStreamTally()
    run(tally, [sse({"type": "message_delta", "usage": {"output_tokens": 3}}, "message_delta")])
    assert tally.usage() is None
    assert not tally.output_final


def test_anthropic_error_event() -> None:
    tally = AnthropicStreamTally()
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert run(tally, [sse(ANTHROPIC_START, "message_start"), sse(error, "error")])
    assert tally.error == {"type": "overloaded_error", "message": "Overloaded"}
    assert not tally.done


def test_anthropic_type_falls_back_to_event_name_and_tolerates_garbage() -> None:
    tally = AnthropicStreamTally()
    assert tally.feed(SSEEvent(b"", "message_stop", "{}"))
    assert tally.done
    assert tally.feed(SSEEvent(b"", "content_block_delta", "{not json"))
    assert tally.feed(SSEEvent(b"", None, json.dumps({"type": "content_block_delta", "delta": 3})))
    assert tally.malformed
    assert tally.chunks_seen == 2


def test_usage_on_a_chunk_with_empty_choices_is_hidden_litellm_style() -> None:
    """LiteLLM sends its usage on a chunk whose choices hold an empty delta: hide it all."""
    tally = OpenAIStreamTally(client_wants_usage=False)
    empty = {"choices": [{"index": 0, "delta": {}, "finish_reason": None}], "usage": OPENAI_USAGE}
    assert not tally.feed(SSEEvent(b"raw", None, json.dumps(empty)))
    assert tally.usage is not None and tally.usage.output_tokens == 30


def test_usage_on_a_chunk_with_content_is_stripped_not_dropped() -> None:
    tally = OpenAIStreamTally(client_wants_usage=False)
    chunk = chat_chunk({"content": "end"}, usage=OPENAI_USAGE)
    chunk["choices"][0]["finish_reason"] = "stop"  # type: ignore[index]
    assert tally.feed(SSEEvent(b"raw", None, json.dumps(chunk)))
    assert tally.rewrite is not None
    forwarded = json.loads(tally.rewrite.removeprefix(b"data: "))
    assert "usage" not in forwarded and forwarded["choices"] == chunk["choices"]
    assert tally.text_parts == ["end"] and tally.usage is not None


def test_a_client_that_asked_gets_the_usage_chunk_untouched() -> None:
    tally = OpenAIStreamTally(client_wants_usage=True)
    chunk = chat_chunk({"content": "end"}, usage=OPENAI_USAGE)
    assert tally.feed(SSEEvent(b"raw", None, json.dumps(chunk)))
    assert tally.rewrite is None


def test_each_tally_reads_why_the_stream_finished_from_events_it_reads_anyway() -> None:
    """Chat's choices say it on their last chunk (the usage chunk after it has none);
    Anthropic's message_delta says it beside the usage."""
    chat = OpenAIStreamTally(client_wants_usage=False)
    for data in (
        '{"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}',
        '{"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}',
        '{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}',
        "[DONE]",
    ):
        chat.feed(SSEEvent(b"", None, data))
    assert chat.finish_reasons() == ("length",)
    claude = AnthropicStreamTally()
    assert claude.finish_reasons() == ()
    claude.feed(SSEEvent(b"", "message_start", '{"type":"message_start","message":{"usage":{}}}'))
    delta = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {}}
    claude.feed(SSEEvent(b"", "message_delta", json.dumps(delta)))
    assert claude.finish_reasons() == ("end_turn",)
