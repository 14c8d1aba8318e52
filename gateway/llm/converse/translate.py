"""OpenAI chat clients reaching any Bedrock model through the Converse API: the request
translated to Converse (`/model/{id}/converse`, or `/converse-stream` whose AWS
event-stream frames `bedrock.EventStreamToSSE` turns into one SSE event per frame, named by
its event type); the answer and the stream come back through llm/converse/chat.py.

What translates: system, user and assistant text; function `tools` (to
`toolConfig.tools[].toolSpec`), `tool_choice` auto, required (`any`) or a function
(`tool`), assistant `tool_calls` and `tool` messages (to `toolUse` / `toolResult` blocks;
llm/chat/turns.py reads them); `max_tokens` / `max_completion_tokens`, `temperature`,
`top_p`, `stop`; `stream` and `stream_options.include_usage`. Anything else (`n`, `seed`,
`response_format`, other tools, images, an empty text Converse refuses...) is refused with
a 400 naming it. `tool_choice` none withholds the tools (Converse has no 'none'); it is
refused once the messages hold tool calls, which Converse reads only with tools declared.
A tool call id Converse would refuse as a `toolUseId` (another provider's) is sent as a
hash of it, the same in the call and its result.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from billing.metering.tokens import TokenCounter
from billing.pricing import ModelPrice
from gateway.errors import InvalidRequest
from gateway.llm.chat.tools import TOOL_FIELDS, Tools, read_tools
from gateway.llm.chat.turns import (
    COMMON_FIELDS,
    Part,
    ToolCall,
    ToolResult,
    Turn,
    check_fields,
    read_turns,
    sampling,
)
from gateway.llm.endpoint import Body, Sizing
from gateway.llm.reading.readers import read_chat

TARGET = "Bedrock"
ROUTE = "/v1/messages (Anthropic models)"
PASSED = TOOL_FIELDS | COMMON_FIELDS
TOOL_USE_ID = re.compile(r"[a-zA-Z0-9_.:-]{1,64}")
NO_PARAMETERS = {"type": "object", "properties": {}}


def _tool_history(turns: list[Turn]) -> bool:
    return any(isinstance(p, ToolCall | ToolResult) for t in turns for p in t.parts)


def _check_tools(tools: Tools | None, turns: list[Turn]) -> None:
    used = _tool_history(turns)
    if tools is not None and tools.mode == "none" and used:
        raise InvalidRequest(
            "tool_choice 'none' is not translated for Bedrock models once the messages hold "
            "tool calls: Converse has no 'none' and wants the tools declared with them.",
            param="tool_choice",
        )
    if tools is None and used:
        raise InvalidRequest(
            "Bedrock reads tool calls and results only with the 'tools' declared.",
            param="tools",
        )


def _check_no_empty_text(messages: list[Any]) -> None:
    """Converse refuses an empty text block: a message (or a tool's result) of no text, but
    an assistant's that only calls tools, is refused here by name, before anything is held."""
    for at, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("content") not in ("", []):
            continue
        if message.get("role") == "assistant" and message.get("tool_calls"):
            continue
        raise InvalidRequest(
            f"'messages[{at}].content' is empty, which Bedrock refuses: send some text.",
            param=f"messages[{at}].content",
        )


def read_translated(body: Body, price: ModelPrice, counter: TokenCounter) -> Sizing:
    """The chat reader's sizing (tools and tool messages counted as prompt), once every
    field and message is one Converse carries (one choice, no seed, no JSON mode)."""
    check_fields(body, PASSED, TARGET, ROUTE)
    tools = read_tools(body, TARGET)
    messages = body.get("messages")
    messages = messages if isinstance(messages, list) else []  # read_chat refuses the rest
    _check_tools(tools, read_turns(messages, TARGET)[1])
    _check_no_empty_text(messages)
    return read_chat(body, price, counter)


def tool_use_id(call_id: str) -> str:
    """The id as Converse takes it: itself if it can, else a stable hash of it."""
    if TOOL_USE_ID.fullmatch(call_id):
        return call_id
    return "call_" + hashlib.sha256(call_id.encode()).hexdigest()[:40]


def _block(part: Part) -> dict[str, Any]:
    if isinstance(part, str):
        return {"text": part}
    if isinstance(part, ToolCall):
        use = {"toolUseId": tool_use_id(part.id), "name": part.name, "input": part.arguments}
        return {"toolUse": use}
    result = {"toolUseId": tool_use_id(part.call_id), "content": [{"text": part.text}]}
    return {"toolResult": result}


def _tool_config(tools: Tools) -> Body:
    specs = []
    for fn in tools.functions:
        spec: dict[str, Any] = {"name": fn.name}
        if fn.description and fn.description.strip():  # Converse refuses a blank one
            spec["description"] = fn.description
        spec["inputSchema"] = {"json": fn.parameters or NO_PARAMETERS}
        specs.append({"toolSpec": spec})
    config: Body = {"tools": specs}
    if tools.only:
        config["toolChoice"] = {"tool": {"name": tools.only}}
    elif tools.mode is not None:
        config["toolChoice"] = {"any": {}} if tools.mode == "required" else {"auto": {}}
    return config


def to_converse(body: Body) -> Body:
    """The Converse body of a chat request read by `read_translated`."""
    system, turns = read_turns(body["messages"], TARGET)
    messages = [{"role": t.role, "content": [_block(p) for p in t.parts]} for t in turns]
    out: Body = {"messages": messages, "inferenceConfig": sampling(body, "maxTokens")}
    if system:
        out["system"] = [{"text": text} for text in system]
    tools = read_tools(body, TARGET)
    if tools is not None and not (tools.mode == "none" and not _tool_history(turns)):
        out["toolConfig"] = _tool_config(tools)  # 'none': the tools withheld, uncallable
    return out
