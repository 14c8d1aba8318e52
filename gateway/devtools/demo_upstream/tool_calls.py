"""Which functions the demo "model" calls, whatever the wire: pure, no I/O.

A request declaring functions is answered with the calls `Behaviour.tool_calls` lists, or,
when it requires a call (Gemini's mode ANY, Converse's `any` or `tool`) and none is
listed, a call of the first function it allows, without arguments. A request whose last
turn carries tool results, or that forbids calls, is answered with text, as a model would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Asked:
    """What a request says about calling functions, read by each wire's routes."""

    declared: tuple[str, ...]  # the functions' names
    required: bool = False  # it must call one
    allowed: tuple[str, ...] = ()  # ...of these only, when given
    forbidden: bool = False  # it must not call any
    answering: bool = False  # its last turn carries tool results


def planned_calls(asked: Asked, listed: list[JSON] | None) -> list[JSON]:
    """The calls to answer with, each `{"name", "arguments"}` (and maybe `id`)."""
    if not asked.declared or asked.forbidden or asked.answering:
        return []
    if listed:
        return [call for call in listed if isinstance(call, dict)]
    if asked.required:
        return [{"name": (asked.allowed or asked.declared)[0], "arguments": {}}]
    return []
