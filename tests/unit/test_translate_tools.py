"""OpenAI tool calling translated for Gemini and Converse: the tools, the choice and the
tool messages in the request; function calls back as `tool_calls`, whole and streamed;
what cannot carry over refused by name."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from billing.metering.tokens import TokenCounter
from gateway.errors import InvalidRequest
from gateway.llm.converse import chat as converse_chat
from gateway.llm.converse import translate as converse
from gateway.llm.gemini import chat as gemini_chat
from gateway.llm.gemini import translate as gemini
from gateway.llm.sse import SSEEvent
from tests.support.factories import WEATHER_TOOL as WEATHER
from tests.unit.test_pricing import model

CLOCK = {"type": "function", "function": {"name": "now"}}
CALL = {
    "id": "call_abc",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}
ROUND_TRIP: dict[str, Any] = {
    "model": "m",
    "tools": [WEATHER, CLOCK],
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_abc", "content": "sunny"},
        {"role": "user", "content": "Thanks."},
    ],
}


def test_tools_and_tool_messages_become_gemini_parts() -> None:
    body = gemini.to_gemini({**ROUND_TRIP, "tool_choice": "required"})
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
        {
            "role": "model",
            "parts": [
                {
                    "functionCall": {
                        "name": "get_weather",
                        "args": {"city": "Paris"},
                        "id": "call_abc",
                    }
                }
            ],
        },
        {
            "role": "user",
            "parts": [
                {
                    "functionResponse": {
                        "name": "get_weather",
                        "response": {"output": "sunny"},
                        "id": "call_abc",
                    }
                },
                {"text": "Thanks."},
            ],
        },
    ]
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "The weather in a city.",
                    "parametersJsonSchema": WEATHER["function"]["parameters"],
                },
                {"name": "now"},
            ]
        }
    ]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}


@pytest.mark.parametrize(
    ("choice", "gemini_config", "converse_choice"),
    [
        ("auto", {"mode": "AUTO"}, {"auto": {}}),
        ("required", {"mode": "ANY"}, {"any": {}}),
        (
            {"type": "function", "function": {"name": "now"}},
            {"mode": "ANY", "allowedFunctionNames": ["now"]},
            {"tool": {"name": "now"}},
        ),
    ],
)
def test_each_tool_choice(choice: Any, gemini_config: Any, converse_choice: Any) -> None:
    body = {**ROUND_TRIP, "tool_choice": choice}
    assert gemini.to_gemini(body)["toolConfig"] == {"functionCallingConfig": gemini_config}
    assert converse.to_converse(body)["toolConfig"]["toolChoice"] == converse_choice


def test_no_choice_is_the_providers_default_and_none_is_gemini_only() -> None:
    assert "toolConfig" not in gemini.to_gemini(ROUND_TRIP)
    assert "toolChoice" not in converse.to_converse(ROUND_TRIP)["toolConfig"]
    none = {**ROUND_TRIP, "tool_choice": "none"}
    assert gemini.to_gemini(none)["toolConfig"] == {"functionCallingConfig": {"mode": "NONE"}}
    with pytest.raises(InvalidRequest) as caught:  # the history holds a call: tools needed
        converse.read_translated(none, None, None)  # type: ignore[arg-type]
    assert caught.value.param == "tool_choice"
    asking = {**none, "messages": ROUND_TRIP["messages"][:2]}
    assert "toolConfig" not in converse.to_converse(asking)


def test_a_blank_description_is_left_out_for_converse() -> None:
    blank = {"type": "function", "function": {"name": "now", "description": "  "}}
    spec = converse.to_converse({**ROUND_TRIP, "tools": [WEATHER, blank]})["toolConfig"]
    assert "description" not in spec["tools"][1]["toolSpec"]


def test_ids_made_for_gemini_calls_are_not_sent_back() -> None:
    made = {**CALL, "id": gemini.LOCAL_ID + "x_1"}
    messages = [
        *ROUND_TRIP["messages"][:2],
        {"role": "assistant", "tool_calls": [made]},
        {"role": "tool", "tool_call_id": made["id"], "content": "sunny"},
    ]
    body = {**ROUND_TRIP, "messages": messages}
    contents = gemini.to_gemini(body)["contents"]
    assert "id" not in contents[1]["parts"][0]["functionCall"]
    assert "id" not in contents[2]["parts"][0]["functionResponse"]


def test_a_thought_signature_returns_to_gemini_and_stays_off_converse() -> None:
    signed = {**CALL, "extra_content": {"google": {"thought_signature": "sig"}}}
    messages = [*ROUND_TRIP["messages"][:2], {"role": "assistant", "tool_calls": [signed]}]
    body = {**ROUND_TRIP, "messages": [*messages, *ROUND_TRIP["messages"][3:]]}
    assert gemini.to_gemini(body)["contents"][1]["parts"][0]["thoughtSignature"] == "sig"
    assert converse.to_converse(body) == converse.to_converse(ROUND_TRIP)


def test_tools_and_tool_messages_become_converse_blocks() -> None:
    body = converse.to_converse(ROUND_TRIP)
    assert body["messages"] == [
        {"role": "user", "content": [{"text": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "content": [
                {
                    "toolUse": {
                        "toolUseId": "call_abc",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    }
                }
            ],
        },
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "call_abc", "content": [{"text": "sunny"}]}},
                {"text": "Thanks."},
            ],
        },
    ]
    assert body["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "get_weather",
                    "description": "The weather in a city.",
                    "inputSchema": {"json": WEATHER["function"]["parameters"]},
                }
            },
            {"toolSpec": {"name": "now", "inputSchema": {"json": converse.NO_PARAMETERS}}},
        ]
    }


def test_an_id_converse_would_refuse_is_hashed_alike_in_call_and_result() -> None:
    odd = "call abc/é" * 10
    messages = [
        *ROUND_TRIP["messages"][:2],
        {"role": "assistant", "tool_calls": [{**CALL, "id": odd}]},
        {"role": "tool", "tool_call_id": odd, "content": "sunny"},
    ]
    body = converse.to_converse({**ROUND_TRIP, "messages": messages})
    use = body["messages"][1]["content"][0]["toolUse"]["toolUseId"]
    result = body["messages"][2]["content"][0]["toolResult"]["toolUseId"]
    assert use == result == converse.tool_use_id(odd) and converse.TOOL_USE_ID.fullmatch(use)


def _with(**fields: Any) -> dict[str, Any]:
    return {**ROUND_TRIP, **fields}


def _fn(**function: Any) -> dict[str, Any]:
    return _with(tools=[{"type": "function", "function": function}])


def _call_with(**fields: Any) -> dict[str, Any]:
    messages = [
        *ROUND_TRIP["messages"][:2],
        {"role": "assistant", "content": None, "tool_calls": [{**CALL, **fields}]},
    ]
    return _with(messages=messages)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (_with(tools=[{"type": "file_search"}]), "tools[0].type"),
        (_fn(name="f", strict=True), "tools[0].function.strict"),
        (_fn(name="f", x=1), "tools[0].function.x"),
        (_fn(name="a b"), "tools[0].function.name"),
        (_fn(name="f", parameters={"type": "string"}), "tools[0].function.parameters"),
        (_with(tool_choice={"type": "function", "function": {"name": "nope"}}), "tool_choice"),
        (_with(tool_choice="sometimes"), "tool_choice"),
        ({**ROUND_TRIP, "tools": None, "tool_choice": "auto"}, "tool_choice"),
        (_with(parallel_tool_calls=False), "parallel_tool_calls"),
        (_call_with(function={"name": "get_weather", "arguments": "[1]"}),
         "messages[2].tool_calls[0].function.arguments"),
        (_call_with(function={"name": "get_weather", "arguments": "{oops"}),
         "messages[2].tool_calls[0].function.arguments"),
        (_call_with(id=None), "messages[2].tool_calls[0].id"),
        (_with(messages=[{"role": "assistant", "content": "x", "function_call": {}}]),
         "messages[0].function_call"),
    ],
)  # fmt: skip
def test_what_cannot_carry_over_is_refused_by_name(body: dict[str, Any], param: str) -> None:
    for read in (gemini.read_translated, converse.read_translated):
        with pytest.raises(InvalidRequest) as caught:
            read(body, None, None)  # type: ignore[arg-type]
        assert caught.value.param == param


def test_gemini_refuses_a_name_it_cannot_take_and_converse_a_history_without_tools() -> None:
    digit = _with(tools=[{"type": "function", "function": {"name": "1st"}}])
    with pytest.raises(InvalidRequest) as caught:
        gemini.read_translated(digit, None, None)  # type: ignore[arg-type]
    assert caught.value.param == "tools[0].function.name"
    assert converse.to_converse(digit)["toolConfig"]["tools"][0]["toolSpec"]["name"] == "1st"
    with pytest.raises(InvalidRequest) as caught:
        converse.read_translated({**ROUND_TRIP, "tools": None}, None, None)  # type: ignore[arg-type]
    assert caught.value.param == "tools"


def test_the_reservation_counts_tools_and_tool_messages() -> None:
    counter, price = TokenCounter(), model()
    plain = {"model": "m", "messages": [{"role": "user", "content": "Weather in Paris?"}]}
    big = {**WEATHER, "function": {**WEATHER["function"], "description": "word " * 5000}}
    for read in (gemini.read_translated, converse.read_translated):
        alone = read(plain, price, counter).input_tokens
        assert read({**plain, "tools": [big]}, price, counter).input_tokens > alone + 5000
        assert read(ROUND_TRIP, price, counter).input_tokens > alone + 20


GEMINI_ANSWER: dict[str, Any] = {
    "candidates": [
        {
            "content": {
                "role": "model",
                "parts": [
                    {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                    {"functionCall": {"name": "now", "args": {}, "id": "g-2"}},
                ],
            },
            "finishReason": "STOP",
        }
    ],
    "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 4},
}


def test_gemini_function_calls_become_tool_calls() -> None:
    [choice] = gemini_chat.to_chat(GEMINI_ANSWER, "gemini-pro")["choices"]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    made, given = choice["message"]["tool_calls"]
    assert made["id"].startswith(gemini.LOCAL_ID) and given["id"] == "g-2"
    assert made["function"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    assert given["function"] == {"name": "now", "arguments": "{}"}


def _sse(payload: dict[str, Any], name: str | None = None) -> SSEEvent:
    data = orjson.dumps(payload)
    return SSEEvent(b"data: " + data + b"\n\n", name, data.decode())


def _chunks(wire: bytes) -> list[dict[str, Any]]:
    lines = [line[6:] for line in wire.split(b"\n\n") if line]
    assert lines[-1] == b"[DONE]"
    return [orjson.loads(line) for line in lines[:-1]]


def _accumulated(chunks: list[dict[str, Any]]) -> dict[int, dict[str, str]]:
    """What the openai SDK's stream helpers build from the deltas, by index."""
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for choice in chunk["choices"]:
            for delta in choice["delta"].get("tool_calls") or ():
                call = calls.setdefault(delta["index"], {"id": "", "name": "", "arguments": ""})
                call["id"] = delta.get("id") or call["id"]
                call["name"] += delta.get("function", {}).get("name") or ""
                call["arguments"] += delta.get("function", {}).get("arguments") or ""
    return calls


def test_a_gemini_stream_of_calls_becomes_tool_call_deltas() -> None:
    tally = gemini_chat.ChatFromGeminiTally(client_wants_usage=False)
    first = {"candidates": [{"content": {"parts": [{"text": "Let me look."}]}, "index": 0}]}
    tally.feed(_sse(first))
    wire = tally.rewrite or b""
    tally.feed(_sse(GEMINI_ANSWER))
    chunks = _chunks(wire + (tally.rewrite or b""))
    calls = _accumulated(chunks)
    assert [c["name"] for c in calls.values()] == ["get_weather", "now"]
    assert orjson.loads(calls[0]["arguments"]) == {"city": "Paris"} and calls[1]["id"] == "g-2"
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert tally.done and "get_weather" in "".join(tally.text_parts)


USE = {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}}


def _input(piece: str) -> dict[str, Any]:
    return {"contentBlockIndex": 1, "delta": {"toolUse": {"input": piece}}}


def test_a_converse_tool_use_becomes_tool_calls_whole_and_streamed() -> None:
    answer = {
        "output": {"message": {"role": "assistant", "content": [{"text": "Looking."}, USE]}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 7, "outputTokens": 3},
    }  # fmt: skip
    [choice] = converse_chat.to_chat(answer, "nova")["choices"]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] == "Looking."
    assert choice["message"]["tool_calls"] == [
        {
            "id": "tooluse_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        }
    ]
    assert "get_weather" in "".join(converse_chat.answer_text(answer))
    tally = converse_chat.ChatFromConverseTally(client_wants_usage=False)
    use = {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather"}}
    wire = b""
    steps: list[tuple[str, dict[str, Any]]] = [
        ("messageStart", {"role": "assistant"}),
        ("contentBlockStart", {"contentBlockIndex": 1, "start": use}),
        ("contentBlockDelta", _input('{"ci')),
        ("contentBlockDelta", _input('ty":"Paris"}')),
        ("contentBlockStop", {"contentBlockIndex": 1}),
        ("messageStop", {"stopReason": "tool_use"}),
        ("metadata", {"usage": {"inputTokens": 7, "outputTokens": 3}}),
    ]
    for name, payload in steps:
        tally.feed(_sse(payload, name))
        wire += tally.rewrite or b""
    chunks = _chunks(wire)
    assert _accumulated(chunks) == {
        0: {"id": "tooluse_1", "name": "get_weather", "arguments": '{"city":"Paris"}'}
    }
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_odd_indexes_from_a_provider_do_not_break_the_streams() -> None:
    gemini_tally = gemini_chat.ChatFromGeminiTally(client_wants_usage=False)
    odd = {"candidates": [{**GEMINI_ANSWER["candidates"][0], "index": [1]}]}
    assert gemini_tally.feed(_sse(odd)) and gemini_tally.rewrite
    assert _chunks(gemini_tally.rewrite)[0]["choices"][0]["index"] == 0
    converse_tally = converse_chat.ChatFromConverseTally(client_wants_usage=False)
    start = {"contentBlockIndex": {"x": 1}, "start": USE}
    assert converse_tally.feed(_sse(start, "contentBlockStart"))
    delta = {**_input("{}"), "contentBlockIndex": {"x": 1}}
    assert converse_tally.feed(_sse(delta, "contentBlockDelta")) and converse_tally.rewrite
    assert b'"arguments":"{}"' in converse_tally.rewrite
