"""An OpenAI chat request's messages as the translations to other wires need them
(llm/gemini/translate.py, llm/converse/translate.py): system texts apart, then turns of
user or assistant, each a list of texts, tool calls and tool results.

Read once here, so both translations carry the same messages and refuse the same ones by
name: an assistant's `tool_calls` become `ToolCall`s (arguments parsed from their JSON
string, which must be an object), a `tool` message a `ToolResult` named after the call it
answers (found by `tool_call_id` among the earlier calls: Gemini wants the function's
name, OpenAI sends only the id). Tool results are the user's turn on both wires, and
adjacent turns of one role are merged, as both wires want calls and their results in
consecutive turns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from gateway.errors import InvalidRequest
from gateway.llm.endpoint import Body

SYSTEM_ROLES = frozenset({"system", "developer"})
# The fields every translation carries (each adds its own).
COMMON_FIELDS = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "stream",
        "stream_options",
        "user",
    }
)


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]
    signature: str = ""  # a Gemini thought signature the call came back with


@dataclass(frozen=True, slots=True)
class ToolResult:
    call_id: str
    name: str
    text: str


Part = str | ToolCall | ToolResult


@dataclass(slots=True)
class Turn:
    role: Literal["user", "assistant"]
    parts: list[Part] = field(default_factory=list)


def _is_text(content: object) -> bool:
    if isinstance(content, str):
        return True
    return isinstance(content, list) and all(
        isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
        for p in content
    )


def text_of(content: object, at: int, target: str) -> str:
    """A message's text: a string, or text parts only; anything else (images, audio) is
    refused by name."""
    if not _is_text(content):
        raise InvalidRequest(
            f"messages[{at}]: only text content reaches {target} models from this route.",
            param=f"messages[{at}].content",
        )
    if isinstance(content, str):
        return content
    return "".join(p["text"] for p in content) if isinstance(content, list) else ""


def check_fields(body: Body, passed: frozenset[str], target: str, route: str) -> None:
    """Refuse by name any field the translation to `target` would not carry."""
    extra = sorted(set(body) - passed)
    if extra:
        raise InvalidRequest(
            f"'{extra[0]}' is not translated for {target} models; call {route} to use it.",
            param=extra[0],
        )


def sampling(body: Body, max_name: str) -> dict[str, Any]:
    """The output cap, temperature, top_p and stop sequences, as both wires name them but
    the cap (`max_name`)."""
    config: dict[str, Any] = {}
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    for name, value in (
        (max_name, limit),
        ("temperature", body.get("temperature")),
        ("topP", body.get("top_p")),
    ):
        if value is not None:
            config[name] = value
    stop = body.get("stop")
    if stop is not None:
        config["stopSequences"] = [stop] if isinstance(stop, str) else stop
    return config


def _arguments(raw: object, param: str) -> dict[str, Any]:
    if raw == "":
        return {}  # some models answer a call without arguments so
    try:
        parsed = orjson.loads(raw) if isinstance(raw, str) else None
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise InvalidRequest(f"'{param}' must be a JSON object in a string.", param=param)
    return parsed


def _tool_call(call: object, param: str) -> ToolCall:
    fn = call.get("function") if isinstance(call, dict) else None
    if not isinstance(call, dict) or call.get("type", "function") != "function":
        raise InvalidRequest(f"'{param}' must be a function call.", param=param)
    if not isinstance(call.get("id"), str) or not call["id"]:
        raise InvalidRequest(f"'{param}.id' must be a string.", param=f"{param}.id")
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        raise InvalidRequest(f"'{param}.function.name' is required.", param=f"{param}.function")
    args = _arguments(fn.get("arguments"), f"{param}.function.arguments")
    return ToolCall(call["id"], fn["name"], args, _signature(call, f"{param}.extra_content"))


def _signature(call: dict[str, Any], param: str) -> str:
    """`extra_content.google.thought_signature`, the one extra a call carries back (see
    chat_tools.openai_call); anything else there is refused by name, not dropped."""
    extra = call.get("extra_content")
    if extra is None:
        return ""
    google = extra.get("google") if isinstance(extra, dict) else None
    signature = google.get("thought_signature") if isinstance(google, dict) else None
    if extra != {"google": {"thought_signature": signature}} or not isinstance(signature, str):
        raise InvalidRequest(
            f"'{param}' carries only google.thought_signature, a string.", param=param
        )
    return signature


class _Reader:
    """The walk over the messages, keeping each call's name by id for the results."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.system: list[str] = []
        self.turns: list[Turn] = []
        self.names: dict[str, str] = {}

    def add(self, role: Literal["user", "assistant"], parts: list[Part]) -> None:
        if self.turns and self.turns[-1].role == role:
            self.turns[-1].parts += parts
        else:
            self.turns.append(Turn(role, parts))

    def message(self, message: dict[str, Any], at: int) -> None:
        role = message.get("role")
        if role in SYSTEM_ROLES:
            self.system.append(text_of(message.get("content"), at, self.target))
        elif role == "user":
            self.add("user", [text_of(message.get("content"), at, self.target)])
        elif role == "assistant":
            self.add("assistant", self.assistant(message, at))
        elif role == "tool":
            self.add("user", [self.result(message, at)])
        else:
            raise InvalidRequest(
                f"messages[{at}]: the role {role!r} is not translated for {self.target} models.",
                param=f"messages[{at}].role",
            )

    def assistant(self, message: dict[str, Any], at: int) -> list[Part]:
        if message.get("function_call") is not None:
            raise InvalidRequest(
                f"messages[{at}].function_call is not translated; send tool_calls.",
                param=f"messages[{at}].function_call",
            )
        calls = message.get("tool_calls") or []
        if not isinstance(calls, list):
            raise InvalidRequest("'tool_calls' must be an array.", param=f"messages[{at}]")
        parsed = [_tool_call(c, f"messages[{at}].tool_calls[{n}]") for n, c in enumerate(calls)]
        self.names.update((c.id, c.name) for c in parsed)
        content = message.get("content")
        text = "" if content is None and parsed else text_of(content, at, self.target)
        parts: list[Part] = [text] if text or not parsed else []
        return parts + list(parsed)

    def result(self, message: dict[str, Any], at: int) -> ToolResult:
        call_id = message.get("tool_call_id")
        name = self.names.get(call_id) if isinstance(call_id, str) else None
        if name is None:
            raise InvalidRequest(
                f"messages[{at}].tool_call_id answers no earlier assistant tool call.",
                param=f"messages[{at}].tool_call_id",
            )
        return ToolResult(str(call_id), name, text_of(message.get("content"), at, self.target))


def read_turns(messages: list[Any], target: str) -> tuple[list[str], list[Turn]]:
    """The system texts and the turns of `messages` (a non-empty list of objects, checked
    by the chat reader); whatever would not carry over to `target` is refused by name."""
    reader = _Reader(target)
    for at, message in enumerate(messages):
        if isinstance(message, dict):
            reader.message(message, at)
    return reader.system, reader.turns
