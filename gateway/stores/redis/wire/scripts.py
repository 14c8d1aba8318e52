"""Loading the `.lua` scripts once, so every later call is one EVALSHA."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from gateway.stores.redis.wire.resp import ScriptWire, WireScript

ScriptFn = Callable[[Sequence[str], Sequence[Any]], Awaitable[Any]]


INCLUDE = re.compile(r"^--#include (\w+)$", re.MULTILINE)


def script_text(name: str) -> str:
    """A script's text, each `--#include NAME` line replaced by `NAME.lua` (code two scripts
    share; Redis takes one self-contained text per script)."""
    text = _read(name)
    return INCLUDE.sub(lambda m: _read(m.group(1)), text)


def _read(name: str) -> str:
    return resources.files("gateway.stores.redis.lua").joinpath(f"{name}.lua").read_text()


def load_script(client: aioredis.Redis, name: str, wire: ScriptWire | None = None) -> ScriptFn:
    """EVALSHA through the lean wire client when there is one, else through redis-py."""
    text = script_text(name)
    if wire is not None:
        fast = WireScript(wire, text)
        return lambda keys, args: fast(tuple(keys), tuple(args))  # the coroutine itself
    script: AsyncScript = client.register_script(text)
    return lambda keys, args: script(keys=keys, args=args)
