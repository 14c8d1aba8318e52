"""OpenAI chat requests translated for Google's wire and Bedrock's Converse, and their
answers and streams translated back; what would not carry over is refused by name."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from billing.metering.usage import Usage
from gateway.errors import InvalidRequest
from gateway.llm.converse import chat as converse_chat
from gateway.llm.converse import translate as converse
from gateway.llm.gemini import chat as gemini_chat
from gateway.llm.gemini import translate as gemini
from gateway.llm.sse import SSEEvent

CHAT: dict[str, Any] = {
    "model": "m",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "again"},
    ],
    "max_completion_tokens": 50,
    "temperature": 0.5,
    "stop": "END",
}


def test_a_chat_body_becomes_generate_content() -> None:
    assert gemini.to_gemini({**CHAT, "n": 2, "response_format": {"type": "json_object"}}) == {
        "contents": [
            {"role": "user", "parts": [{"text": "hi"}]},
            {"role": "model", "parts": [{"text": "hello"}]},
            {"role": "user", "parts": [{"text": "again"}]},
        ],
        "generationConfig": {
            "maxOutputTokens": 50,
            "temperature": 0.5,
            "candidateCount": 2,
            "stopSequences": ["END"],
            "responseMimeType": "application/json",
        },
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
    }


def test_a_chat_body_becomes_a_converse_body() -> None:
    assert converse.to_converse(CHAT) == {
        "messages": [
            {"role": "user", "content": [{"text": "hi"}]},
            {"role": "assistant", "content": [{"text": "hello"}]},
            {"role": "user", "content": [{"text": "again"}]},
        ],
        "inferenceConfig": {"maxTokens": 50, "temperature": 0.5, "stopSequences": ["END"]},
        "system": [{"text": "Be brief."}],
    }


def _refusal(read: Any, body: dict[str, Any]) -> str | None:
    with pytest.raises(InvalidRequest) as caught:
        read(body, None, None)
    return caught.value.param


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({**CHAT, "tools": []}, "tools"),
        ({**CHAT, "logprobs": True}, "logprobs"),
        ({**CHAT, "messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        (
            {**CHAT, "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            "messages[0].content",
        ),
    ],
)
def test_what_does_not_carry_over_is_refused_by_name(body: dict[str, Any], param: str) -> None:
    assert _refusal(gemini.read_translated, body) == param
    assert _refusal(converse.read_translated, body) == param


def test_converse_refuses_what_gemini_takes() -> None:
    for name in ("n", "seed", "response_format"):
        with pytest.raises(InvalidRequest, match=f"'{name}' is not translated for Bedrock"):
            converse.read_translated({**CHAT, name: 1}, None, None)  # type: ignore[arg-type]


def test_a_gemini_answer_becomes_a_chat_completion() -> None:
    answer = {
        "candidates": [{"content": {"parts": [{"text": "ok"}]}, "finishReason": "MAX_TOKENS"}],
        "usageMetadata": {
            "promptTokenCount": 10,
            "cachedContentTokenCount": 4,
            "candidatesTokenCount": 3,
            "thoughtsTokenCount": 2,
        },
    }
    chat = gemini_chat.to_chat(answer, "gemini-pro")
    assert chat["choices"] == [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "length"}
    ]
    assert chat["usage"]["prompt_tokens"] == 10 and chat["usage"]["completion_tokens"] == 5
    assert chat["usage"]["completion_tokens_details"] == {"reasoning_tokens": 2}


def test_a_converse_answer_and_its_usage() -> None:
    answer = {
        "output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 7, "outputTokens": 3, "cacheWriteInputTokens": 2},
    }
    assert converse_chat.answer_usage(answer) == Usage(
        input_tokens=7, cache_write_tokens=2, output_tokens=3
    )
    assert converse_chat.answer_usage({"usage": {"inputTokens": -1, "outputTokens": 1}}) is None
    chat = converse_chat.to_chat(answer, "nova")
    assert chat["choices"][0]["message"]["content"] == "ok"
    assert chat["usage"]["prompt_tokens"] == 9


def _event(name: str, payload: dict[str, Any]) -> SSEEvent:
    data = orjson.dumps(payload)
    return SSEEvent(b"event: " + name.encode() + b"\ndata: " + data + b"\n\n", name, data.decode())


def test_a_converse_stream_becomes_chat_chunks_ending_in_done() -> None:
    tally = converse_chat.ChatFromConverseTally(client_wants_usage=True)
    events: list[tuple[str, dict[str, Any]]] = [
        ("messageStart", {"role": "assistant"}),
        ("contentBlockDelta", {"delta": {"text": "he"}}),
        ("contentBlockDelta", {"delta": {"text": "y"}}),
        ("messageStop", {"stopReason": "max_tokens"}),
        ("metadata", {"usage": {"inputTokens": 5, "outputTokens": 2}}),
    ]
    wire = b""
    for name, payload in events:
        assert tally.feed(_event(name, payload)) and not tally.malformed
        wire += tally.rewrite or b""
    lines = [line[6:] for line in wire.split(b"\n\n") if line]
    assert lines[-1] == b"[DONE]"
    chunks = [orjson.loads(line) for line in lines[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:-1]) == "hey"
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["usage"]["completion_tokens"] == 2
    assert tally.done and tally.reported() == Usage(input_tokens=5, output_tokens=2)
    # The span says it as the client's last choice chunk did (a plain answer's word too).
    assert tally.finish_reasons() == ("length",)
