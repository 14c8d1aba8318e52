"""OpenAI chat tool calling as the translations to other wires read and answer it
(llm/gemini/translate.py, llm/converse/translate.py): the function `tools`, `tool_choice`
and `parallel_tool_calls` read into plain values, and a provider's function calls written
back as OpenAI `tool_calls`, whole in an answer, or as stream deltas (the id, type and name
first, then the arguments) which the openai SDK's stream helpers accumulate.

What cannot be carried over faithfully is refused by name: tools other than functions,
`strict` schemas (neither wire guarantees the arguments match), `parallel_tool_calls`
false (neither wire can forbid several calls), a `tool_choice` naming an undeclared
function.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from gateway.errors import InvalidRequest
from gateway.llm.endpoint import Body

TOOL_FIELDS = frozenset({"tools", "tool_choice", "parallel_tool_calls"})
OPENAI_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
FUNCTION_KEYS = frozenset({"name", "description", "parameters", "strict"})
Mode = Literal["none", "auto", "required"]


@dataclass(frozen=True, slots=True)
class Function:
    name: str
    description: str | None
    parameters: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Tools:
    """The declared functions and how the model may call them: `mode` None when the client
    left the choice to the provider's default (auto), `only` the one function it must call."""

    functions: tuple[Function, ...]
    mode: Mode | None = None
    only: str | None = None


def _refuse(param: str, why: str) -> InvalidRequest:
    return InvalidRequest(f"'{param}' {why}", param=param)


def _object_schema(schema: object) -> bool:
    """As OpenAI and Gemini have it: the arguments are an object (`{}`: no parameters)."""
    return isinstance(schema, dict) and (not schema or schema.get("type") == "object")


def _function(tool: object, at: int, name_rule: re.Pattern[str], target: str) -> Function:
    where = f"tools[{at}]"
    if not isinstance(tool, dict) or tool.get("type") != "function":
        raise _refuse(f"{where}.type", f"is not translated for {target} models: functions only.")
    extra = sorted(set(tool) - {"type", "function"})
    fn = tool.get("function")
    if extra or not isinstance(fn, dict):
        raise _refuse(f"{where}.{extra[0] if extra else 'function'}", "is not translated.")
    unknown = sorted(set(fn) - FUNCTION_KEYS)
    if unknown:
        raise _refuse(f"{where}.function.{unknown[0]}", "is not translated.")
    name, description, parameters = fn.get("name"), fn.get("description"), fn.get("parameters")
    if not isinstance(name, str) or not name_rule.fullmatch(name):
        raise _refuse(f"{where}.function.name", f"is not a function name {target} accepts.")
    if fn.get("strict"):
        raise _refuse(f"{where}.function.strict", f"is not translated for {target} models.")
    if description is not None and not isinstance(description, str):
        raise _refuse(f"{where}.function.description", "must be a string.")
    if parameters is not None and not _object_schema(parameters):
        raise _refuse(f"{where}.function.parameters", "must be a JSON Schema of an object.")
    return Function(name, description or None, parameters)


def _choice(raw: object, names: set[str]) -> tuple[Mode | None, str | None]:
    if raw is None:
        return None, None
    if raw == "none" or raw == "auto" or raw == "required":
        return raw, None
    fn = raw.get("function") if isinstance(raw, dict) else None
    name = fn.get("name") if isinstance(fn, dict) else None
    if not isinstance(raw, dict) or raw.get("type") != "function" or not isinstance(name, str):
        raise _refuse("tool_choice", "must be none, auto, required or a function.")
    if name not in names:
        raise _refuse("tool_choice", f"names '{name}', which is not among the tools.")
    return "required", name


def read_tools(body: Body, target: str, name_rule: re.Pattern[str] = OPENAI_NAME) -> Tools | None:
    """The request's function tools and choice, None when it declares none; whatever
    would not carry over to `target` is refused by name."""
    parallel = body.get("parallel_tool_calls")
    if parallel is not None and parallel is not True:
        raise _refuse("parallel_tool_calls", f"false is not translated for {target} models.")
    tools = body.get("tools")
    if tools is None:
        if body.get("tool_choice") is not None:
            raise _refuse("tool_choice", "needs 'tools'.")
        return None
    if not isinstance(tools, list) or not tools:
        raise _refuse("tools", "must be a non-empty array.")
    functions = tuple(_function(t, at, name_rule, target) for at, t in enumerate(tools))
    mode, only = _choice(body.get("tool_choice"), {f.name for f in functions})
    return Tools(functions, mode, only)


def arguments_json(arguments: object) -> str:
    """A call's arguments as OpenAI sends them: a JSON string (an object, `{}` if none)."""
    return orjson.dumps(arguments if isinstance(arguments, dict) else {}).decode()


def openai_call(call_id: str, name: str, arguments: str, signature: str = "") -> dict[str, Any]:
    """One entry of an answer's `message.tool_calls`; a Gemini thought signature rides in
    `extra_content.google.thought_signature`, where Google's own OpenAI-compatible endpoint
    puts it, so a client sending the call back sends it too."""
    call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
    if signature:
        call["extra_content"] = {"google": {"thought_signature": signature}}
    return call


def call_start(index: int, call_id: str, name: str, signature: str = "") -> dict[str, Any]:
    """The first stream delta of a call: its place, id, name (and signature); arguments
    follow."""
    return {"tool_calls": [openai_call(call_id, name, "", signature) | {"index": index}]}


def call_arguments(index: int, piece: str) -> dict[str, Any]:
    """A stream delta adding `piece` to the arguments of call `index`."""
    return {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
