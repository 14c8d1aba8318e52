"""OpenAI chat clients reaching a model on Google's own wire (Gemini API, Vertex AI): the
request translated to `generateContent`; the answer and the stream come back through
llm/gemini/chat.py.

What translates: system/developer, user and assistant messages of text; function `tools`
(to `functionDeclarations` with `parametersJsonSchema`), `tool_choice` (to
`functionCallingConfig`: none NONE, auto AUTO, required ANY, a function ANY of it alone),
assistant `tool_calls` and `tool` messages (to `functionCall` / `functionResponse` parts,
the result as `{"output": text}`; llm/chat/turns.py reads them); `max_tokens` /
`max_completion_tokens`, `temperature`, `top_p`, `stop`, `n`, `seed`, `response_format`
json_object; `stream` and `stream_options.include_usage`. Anything else a client may send
(other tools, `strict`, images, audio, logprobs...) would be dropped or mean something
else, so it is refused with a 400 naming it, before anything is reserved.

Gemini's calls may carry an `id`, kept as the OpenAI id and sent back; a call without one
gets an id made here (`LOCAL_ID`...), which is not sent back: Gemini matches such results
by name and order. A call's thought signature goes out in its `extra_content` and comes
back on its part (`thoughtSignature`), as Gemini 3 requires.
"""

from __future__ import annotations

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
    Turn,
    check_fields,
    read_turns,
    sampling,
)
from gateway.llm.endpoint import Body, Sizing
from gateway.llm.reading.readers import read_chat

TARGET = "Gemini"
ROUTE = "/v1/models/{model}:generateContent"
PASSED = TOOL_FIELDS | COMMON_FIELDS | {"n", "seed", "response_format"}
ROLES = {"user": "user", "assistant": "model"}
# Gemini's function names start with a letter or an underscore; OpenAI's may not.
FUNCTION_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_-]{0,63}")
MODES = {"none": "NONE", "auto": "AUTO", "required": "ANY"}
LOCAL_ID = "call_mw"  # the ids made for Gemini's calls that carry none


def read_translated(body: Body, price: ModelPrice, counter: TokenCounter) -> Sizing:
    """The chat reader's sizing (tools and tool messages counted as prompt), once every
    field and message is one the translation carries."""
    check_fields(body, PASSED, TARGET, ROUTE)
    fmt = body.get("response_format")
    if fmt is not None and fmt != {"type": "json_object"} and fmt != {"type": "text"}:
        raise InvalidRequest(
            "Only response_format json_object and text are translated for Gemini models.",
            param="response_format",
        )
    read_tools(body, TARGET, FUNCTION_NAME)
    if isinstance(body.get("messages"), list):
        read_turns(body["messages"], TARGET)
    return read_chat(body, price, counter)


def _id(call_id: str) -> dict[str, str]:
    return {} if call_id.startswith(LOCAL_ID) else {"id": call_id}


def _part(part: Part) -> dict[str, Any]:
    if isinstance(part, str):
        return {"text": part}
    if isinstance(part, ToolCall):
        call = {"functionCall": {"name": part.name, "args": part.arguments} | _id(part.id)}
        return call | ({"thoughtSignature": part.signature} if part.signature else {})
    response = {"name": part.name, "response": {"output": part.text}}
    return {"functionResponse": response | _id(part.call_id)}


def _content(turn: Turn) -> dict[str, Any]:
    return {"role": ROLES[turn.role], "parts": [_part(p) for p in turn.parts]}


def _tools(tools: Tools) -> Body:
    declarations = []
    for fn in tools.functions:
        declaration: dict[str, Any] = {"name": fn.name}
        if fn.description:
            declaration["description"] = fn.description
        if fn.parameters:
            declaration["parametersJsonSchema"] = fn.parameters
        declarations.append(declaration)
    out: Body = {"tools": [{"functionDeclarations": declarations}]}
    if tools.mode is not None:
        config: dict[str, Any] = {"mode": MODES[tools.mode]}
        if tools.only:
            config["allowedFunctionNames"] = [tools.only]
        out["toolConfig"] = {"functionCallingConfig": config}
    return out


def _generation_config(body: Body) -> dict[str, Any]:
    config = sampling(body, "maxOutputTokens")
    for name, value in (("candidateCount", body.get("n")), ("seed", body.get("seed"))):
        if value is not None:
            config[name] = value
    if body.get("response_format") == {"type": "json_object"}:
        config["responseMimeType"] = "application/json"
    return config


def to_gemini(body: Body) -> Body:
    """The generateContent body of a chat request read by `read_translated`."""
    system, turns = read_turns(body["messages"], TARGET)
    out: Body = {
        "contents": [_content(t) for t in turns],
        "generationConfig": _generation_config(body),
    }
    if system:
        out["systemInstruction"] = {"parts": [{"text": text} for text in system]}
    tools = read_tools(body, TARGET, FUNCTION_NAME)
    if tools is not None:
        out |= _tools(tools)
    return out
