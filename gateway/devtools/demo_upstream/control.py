"""The knobs a test turns and the counters it reads: one mutable object shared with the server.

`UpstreamControl` *is* the default `Behaviour` (its knob fields are the defaults for every
response) plus the recorders. A test flips `control.status = 500` between calls, or queues
one-off `Behaviour`s in `control.script`, consumed first-in first-out before the defaults
apply. A subprocess test that cannot reach the object sends the same knobs as JSON in the
`x-fake-behaviour` request header instead. Nothing here touches sockets.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

FailMode = Literal["disconnect", "truncate", "malformed", "error_event"]
FAIL_MODES: frozenset[str] = frozenset({"disconnect", "truncate", "malformed", "error_event"})
BEHAVIOUR_HEADER = "x-fake-behaviour"
CountTokens = Callable[[str], int]
JSON = dict[str, Any]


def count_words(text: str) -> int:
    """Placeholder tokenizer (whitespace words): the fake works before a real one is plugged in."""
    return len(text.split())


@dataclass
class Behaviour:
    """How the next response misbehaves; every field at its default means an honest provider.

    `omit_usage` plays an old server that never reports usage (JSON or stream, OpenAI routes);
    `ignore_usage_request` plays one that reports usage in JSON but ignores
    `stream_options.include_usage`, so streams carry no usage chunk. Responses API knobs:
    `web_searches` completed web_search_call items precede the message, `service_tier` is the
    tier reported, and a background response finishes `background_s` after it was created
    (0: the first retrieve finds it done). `error_headers` go with an injected `status`.
    `tool_calls` (Gemini and Converse routes): the calls a request declaring tools is
    answered with, each `{"name", "arguments"}` (and an `id` Gemini may send); unset, the
    demo calls a function only when the request requires one (demo_upstream/tool_calls.py).
    A Gemini call listed with a `thought_signature` answers with it on its part;
    `signatures_required` plays Gemini 3, which refuses a model turn whose first function
    call comes back without its signature.
    """

    reply_text: str | None = None
    usage: JSON | None = None
    omit_usage: bool = False
    ignore_usage_request: bool = False
    status: int | None = None
    error_body: JSON | None = None
    delay_s: float = 0.0
    chunk_delay_s: float = 0.0
    chunks: int = 3
    fail_after_chunks: int | None = None
    fail_mode: FailMode = "disconnect"
    web_searches: int = 0
    service_tier: str = "default"
    background_s: float = 0.0
    error_headers: dict[str, str] | None = None
    tool_calls: list[JSON] | None = None
    signatures_required: bool = False

    def snapshot(self) -> Behaviour:
        """A detached plain copy, so later knob changes do not leak into a running response."""
        return Behaviour(**{f.name: getattr(self, f.name) for f in fields(Behaviour)})

    def merged(self, overrides: Mapping[str, Any]) -> Behaviour:
        """This behaviour with `overrides` on top; unknown knobs or bad values raise ValueError."""
        for knob, value in overrides.items():
            _check_type(knob, value)
        result = replace(self.snapshot(), **overrides)
        result.validate()
        return result

    def validate(self) -> None:
        """Reject settings the server could not act on, naming the knob."""
        if self.fail_mode not in FAIL_MODES:
            raise ValueError(f"fail_mode must be one of {sorted(FAIL_MODES)}")
        if not isinstance(self.chunks, int) or self.chunks < 1:
            raise ValueError("chunks must be a whole number >= 1")
        if self.status is not None and not 400 <= self.status <= 599:
            raise ValueError("status must be an HTTP error status (400-599)")
        if min(self.delay_s, self.chunk_delay_s) < 0:
            raise ValueError("delays must not be negative")


_NUMBER = (int, float)
_KNOB_TYPES: Mapping[str, tuple[type, ...]] = {
    "reply_text": (str, type(None)),
    "usage": (dict, type(None)),
    "omit_usage": (bool,),
    "ignore_usage_request": (bool,),
    "status": (int, type(None)),
    "error_body": (dict, type(None)),
    "delay_s": _NUMBER,
    "chunk_delay_s": _NUMBER,
    "chunks": (int,),
    "fail_after_chunks": (int, type(None)),
    "fail_mode": (str,),
    "web_searches": (int,),
    "service_tier": (str,),
    "background_s": _NUMBER,
    "error_headers": (dict, type(None)),
    "tool_calls": (list, type(None)),
    "signatures_required": (bool,),
}


def _check_type(knob: str, value: Any) -> None:
    if knob not in _KNOB_TYPES:
        raise ValueError(f"unknown behaviour knob: {knob}")
    if not isinstance(value, _KNOB_TYPES[knob]):
        raise ValueError(f"{knob}: unexpected JSON type {type(value).__name__}")


def behaviour_from_header(base: Behaviour, raw: str | None) -> Behaviour:
    """Merge the `x-fake-behaviour` JSON object over `base`; ValueError says what is wrong."""
    if not raw:
        return base
    try:
        overrides = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{BEHAVIOUR_HEADER} is not valid JSON: {exc}") from exc
    if not isinstance(overrides, dict):
        raise ValueError(f"{BEHAVIOUR_HEADER} must be a JSON object")
    return base.merged(overrides)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the fake provider saw it; header names are lower-case, `at` is when
    it arrived (time.monotonic), so a test can measure a client's back-off."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float = field(default_factory=time.monotonic)
    query: str = ""  # the query string, as sent
    raw_path: str = ""  # the path as sent (percent-escapes kept), with its query
    raw: bytes = b""  # the body's bytes, which a signature covers


@dataclass(frozen=True, slots=True)
class Served:
    """A call the fake answered, as its reports count it (admin_reports.py): the key it
    came with, the model named, the usage it counted (what it reports, or would have), and
    when (time.time(), seconds since the epoch)."""

    wire: str  # "openai" | "anthropic"
    endpoint: str  # "completions" | "embeddings" | "messages"
    api_key: str
    model: str
    usage: JSON
    at: float = field(default_factory=time.time)


def api_key_of(headers: Mapping[str, str]) -> str:
    """The key a call came with: Anthropic's x-api-key, else OpenAI's bearer token."""
    if "x-api-key" in headers:
        return headers["x-api-key"]
    return headers.get("authorization", "").removeprefix("Bearer ").strip()


@dataclass(eq=False)
class UpstreamControl(Behaviour):
    """Default behaviour, a FIFO script of one-off behaviours, and what the server observed.

    `cancelled` counts responses whose client went away before the last byte; `completed`
    counts successful responses (streams that reached their end, JSON bodies). Swap
    `counter` for a real tokenizer to make the reported usage honest.
    """

    counter: CountTokens = field(default=count_words)
    script: list[Behaviour] = field(default_factory=list)
    hits: int = 0
    hits_by_path: Counter[str] = field(default_factory=Counter)
    requests: list[RecordedRequest] = field(default_factory=list)
    cancelled: int = 0
    completed: int = 0
    stored: dict[str, Any] = field(default_factory=dict)  # Responses API objects by id
    # What the usage and cost reports sum (admin_reports.py), and how they price and page.
    served: list[Served] = field(default_factory=list)
    report_prices: dict[str, dict[str, str]] = field(default_factory=dict)
    cached_billed_as_input: set[str] = field(default_factory=set)  # models over-billed so
    report_page_buckets: int = 0  # 0: as many buckets a page as `limit` asks
    workspaces: dict[str, str] = field(default_factory=dict)  # Anthropic key -> workspace
    report_status: int | None = None  # every report route answers this error status
    _changed: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)

    def next_behaviour(self) -> Behaviour:
        """The head of the script if any, else a snapshot of the current defaults."""
        return self.script.pop(0) if self.script else self.snapshot()

    def record(self, request: RecordedRequest) -> None:
        """Count and keep one incoming request."""
        self.hits += 1
        self.hits_by_path[request.path] += 1
        self.requests.append(request)
        self._notify()

    def note_completed(self) -> None:
        """Count a response delivered in full."""
        self.completed += 1
        self._notify()

    def note_cancelled(self) -> None:
        """Count a response abandoned because its client went away."""
        self.cancelled += 1
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    @property
    def bodies(self) -> list[Any]:
        """Just the parsed JSON bodies, in arrival order."""
        return [r.body for r in self.requests]

    @property
    def last_request(self) -> RecordedRequest:
        """The most recent request; IndexError if none arrived."""
        return self.requests[-1]

    def reset(self) -> None:
        """Back to an honest provider with zeroed counters; `counter` is kept."""
        defaults = Behaviour()
        for knob in fields(Behaviour):
            setattr(self, knob.name, getattr(defaults, knob.name))
        self.script.clear()
        self.hits = self.cancelled = self.completed = 0
        self.hits_by_path.clear()
        self.requests.clear()
        self.stored.clear()
        self.served.clear()

    async def wait_until(self, predicate: Callable[[UpstreamControl], bool]) -> None:
        """Wake on each observed event until `predicate(self)` holds, so tests need no sleeps.

        Bound it with `asyncio.timeout(...)`; the server side notifies, test-side edits do not.
        """
        while not predicate(self):
            await self._changed.wait()
