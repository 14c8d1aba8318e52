"""A cached answer replayed as a stream, read back by the official SDKs' own stream parsers.

Each test turns a stored non-streamed answer into SSE bytes (gateway/llm/replay.py), hands
them to `openai.Stream` / `anthropic.Stream` as the body of a response, accumulates the
chunks with the SDK's own helper (the one its `.stream()` methods use) and checks that what
the client rebuilds is the stored answer.
"""

from __future__ import annotations

from typing import Any, cast

import anthropic
import httpx2
import openai
import orjson
import pytest
from anthropic.lib.streaming import MessageStream
from anthropic.types import Message, RawMessageStreamEvent
from openai.lib.streaming.chat import ChatCompletionStreamState, ParsedChatCompletionSnapshot
from openai.types.chat import ChatCompletionChunk

from billing.metering.stream_tally import AnthropicStreamTally, OpenAIStreamTally, StreamTally
from billing.metering.usage import usage_from_anthropic, usage_from_openai
from gateway.llm.replay import ReplayError, anthropic_message_events, chat_completion_events
from gateway.llm.sse import SSEParser

LONG = 'Grüße, 世界! 👋🏽 "quoted" \\ back\nslash\u2028' * 4000


def _response(events: list[bytes], url: str) -> httpx2.Response:
    headers = {"content-type": "text/event-stream"}
    request = httpx2.Request("POST", url)
    return httpx2.Response(200, headers=headers, content=b"".join(events), request=request)


def read_chat(
    events: list[bytes],
) -> tuple[list[ChatCompletionChunk], ParsedChatCompletionSnapshot]:
    """The chunks as openai.Stream parses them, and the completion the SDK rebuilds (its
    snapshot: `get_final_completion` refuses any choice that ended on "length")."""
    client = openai.OpenAI(api_key="k", base_url="http://x/v1")
    response = _response(events, "http://x/v1/chat/completions")
    chunks = list(openai.Stream(cast_to=ChatCompletionChunk, response=response, client=client))
    state: ChatCompletionStreamState[None] = ChatCompletionStreamState()
    for chunk in chunks:
        state.handle_chunk(chunk)
    return chunks, state.current_completion_snapshot


def read_message(events: list[bytes]) -> tuple[list[str], Message]:
    """The event types as anthropic.Stream parses them, and the message MessageStream rebuilds."""
    client = anthropic.Anthropic(api_key="k", base_url="http://x")
    response = _response(events, "http://x/v1/messages")
    # RawMessageStreamEvent is a union, not a class: the SDK's own calls cast it the same way
    event_type = cast(Any, RawMessageStreamEvent)
    raw: anthropic.Stream[RawMessageStreamEvent]
    raw = anthropic.Stream(cast_to=event_type, response=response, client=client)
    stream = MessageStream(raw, anthropic.NOT_GIVEN)
    kinds: list[str] = [event.type for event in stream]
    return kinds, stream.get_final_message()


def chat_answer(*choices: dict[str, Any], **extra: Any) -> dict[str, Any]:
    usage = {"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46}
    return {
        "id": "chatcmpl-abc",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_1234",
        "choices": list(choices),
        "usage": usage,
        **extra,
    }


def chat_choice(index: int = 0, finish: str = "stop", **message: Any) -> dict[str, Any]:
    body = {"role": "assistant", "content": None, "refusal": None, **message}
    return {"index": index, "message": body, "logprobs": None, "finish_reason": finish}


def test_plain_text_with_usage_rebuilds_the_answer() -> None:
    answer = chat_answer(chat_choice(content="Hello there."))
    chunks, final = read_chat(chat_completion_events(answer, include_usage=True))
    assert [c.choices[0].message.content for c in [final]] == ["Hello there."]
    assert final.choices[0].finish_reason == "stop"
    assert final.usage is not None
    assert final.usage.model_dump(exclude_none=True) == answer["usage"]
    heads = {(c.id, c.created, c.model, c.system_fingerprint, c.object) for c in chunks}
    assert heads == {
        ("chatcmpl-abc", 1_700_000_000, answer["model"], "fp_1234", "chat.completion.chunk")
    }
    assert [c.usage for c in chunks[:-1]] == [None] * (len(chunks) - 1)
    assert chunks[-1].choices == []


def test_without_include_usage_no_chunk_carries_usage() -> None:
    answer = chat_answer(chat_choice(content="Hi."))
    events = chat_completion_events(answer, include_usage=False)
    chunks, final = read_chat(events)
    assert final.usage is None
    assert all(b'"usage"' not in e for e in events)
    assert all(c.choices for c in chunks)
    assert events[-1] == b"data: [DONE]\n\n"


def test_tool_calls_rebuild_with_ids_names_and_arguments() -> None:
    calls = [
        {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": a}}
        for i, (n, a) in enumerate([("get_weather", '{"city": "Zürich"}'), ("now", "{}")])
    ]
    answer = chat_answer(chat_choice(finish="tool_calls", tool_calls=calls))
    _, final = read_chat(chat_completion_events(answer, include_usage=True))
    message = final.choices[0].message
    assert message.content is None
    rebuilt = [
        c.model_dump(exclude={"index": True, "function": {"parsed_arguments"}})
        for c in message.tool_calls or []
    ]
    assert rebuilt == calls
    assert final.choices[0].finish_reason == "tool_calls"


def test_every_choice_is_replayed_by_its_index() -> None:
    answer = chat_answer(
        chat_choice(1, "length", content="second"), chat_choice(0, content="first")
    )
    chunks, final = read_chat(chat_completion_events(answer, include_usage=False))
    assert [(c.index, c.message.content, c.finish_reason) for c in final.choices] == [
        (0, "first", "stop"),
        (1, "second", "length"),
    ]
    assert all(len(c.choices) == 1 for c in chunks)


def test_a_refusal_is_replayed_as_a_refusal() -> None:
    answer = chat_answer(chat_choice(refusal="I can't help with that."))
    _, final = read_chat(chat_completion_events(answer, include_usage=True))
    assert final.choices[0].message.refusal == "I can't help with that."
    assert final.choices[0].message.content is None


def test_unicode_and_long_content_survive_byte_for_byte() -> None:
    answer = chat_answer(chat_choice(content=LONG))
    _, final = read_chat(chat_completion_events(answer, include_usage=False))
    assert final.choices[0].message.content == LONG


def test_a_chat_field_streamed_in_another_shape_is_refused() -> None:
    audio = {"id": "audio_1", "data": "UklGRg==", "transcript": "hi", "expires_at": 1}
    answer = chat_answer(chat_choice(audio=audio))
    with pytest.raises(ReplayError, match="audio"):
        chat_completion_events(answer, include_usage=False)


def message_answer(*content: dict[str, Any], stop: str = "end_turn") -> dict[str, Any]:
    usage = {
        "input_tokens": 25,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 7,
        "output_tokens": 90,
    }
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": list(content),
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }


def rebuilt_matches(answer: dict[str, Any]) -> Message:
    kinds, final = read_message(anthropic_message_events(answer))
    assert kinds[0] == "message_start"
    assert kinds[-2:] == ["message_delta", "message_stop"]
    rebuilt = final.to_dict()
    assert rebuilt.pop("stop_details") is None  # message_delta always sets it; these omit it
    assert rebuilt == answer
    return final


def test_anthropic_text_rebuilds_the_answer() -> None:
    rebuilt_matches(message_answer({"type": "text", "text": "Hello."}))


def test_anthropic_text_with_citations() -> None:
    citation = {
        "type": "char_location",
        "cited_text": "The sky is blue.",
        "document_index": 0,
        "document_title": "Sky",
        "start_char_index": 0,
        "end_char_index": 16,
    }
    rebuilt_matches(message_answer({"type": "text", "text": "Blue.", "citations": [citation]}))


def test_anthropic_tool_use_input_is_rebuilt_from_partial_json() -> None:
    tool = {
        "type": "tool_use",
        "id": "toolu_01",
        "name": "search",
        "input": {"query": "café ☕", "filters": {"limit": 3, "tags": ["a", "b"]}, "exact": True},
    }
    final = rebuilt_matches(
        message_answer({"type": "text", "text": "Let me look."}, tool, stop="tool_use")
    )
    assert final.stop_reason == "tool_use"


def test_anthropic_thinking_and_redacted_thinking() -> None:
    rebuilt_matches(
        message_answer(
            {"type": "thinking", "thinking": "Step 1: think.", "signature": "sig=="},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "text", "text": LONG},
        )
    )


def test_anthropic_usage_is_split_as_the_provider_splits_it() -> None:
    events = anthropic_message_events(message_answer({"type": "text", "text": "x"}))
    start = orjson.loads(events[0].split(b"data: ", 1)[1])
    delta = orjson.loads(events[-2].split(b"data: ", 1)[1])
    assert events[0].startswith(b"event: message_start\ndata: ")
    assert start["message"]["usage"]["output_tokens"] == 1
    assert start["message"]["usage"]["input_tokens"] == 25
    assert start["message"]["content"] == [] and start["message"]["stop_reason"] is None
    assert delta["usage"]["output_tokens"] == 90


def test_an_unknown_block_type_is_refused() -> None:
    answer = message_answer({"type": "web_search_tool_result", "tool_use_id": "x", "content": []})
    with pytest.raises(ReplayError, match="web_search_tool_result"):
        anthropic_message_events(answer)


def tallied(tally: StreamTally, events: list[bytes]) -> StreamTally:
    for event in SSEParser().feed(b"".join(events)):
        tally.feed(event)
    return tally


def test_the_gateways_own_tallies_read_the_stored_usage() -> None:
    chat = chat_answer(chat_choice(content="Hi."))
    openai_tally = tallied(
        OpenAIStreamTally(True), chat_completion_events(chat, include_usage=True)
    )
    assert openai_tally.reported() == usage_from_openai(chat["usage"])
    assert openai_tally.finish_reasons() == ("stop",)
    message = message_answer({"type": "text", "text": "Hi."})
    anthropic_tally = tallied(AnthropicStreamTally(), anthropic_message_events(message))
    assert anthropic_tally.reported() == usage_from_anthropic(message["usage"])
    assert anthropic_tally.finish_reasons() == ("end_turn",)
    assert anthropic_tally.usage_final
