"""Relaying a provider's answer to the client and deciding what usage to bill.

Billing policy (README, "What gets billed"):
- upstream error status, network failure before any output: nothing billed, reservation released;
- complete answer: the provider's usage, or tokens counted with tiktoken when it reports none;
- stream cut by the client: the upstream is still read (nothing more is written) for up to
  STREAM_DRAIN_TIMEOUT_S, to get the provider's final usage, hidden reasoning included; if it
  does not come in time, input plus every output token read from the provider, counted;
- a single SSE event larger than MAX_SSE_EVENT_BYTES, or no byte for UPSTREAM_IDLE_TIMEOUT_S,
  fails the stream like a truncation: what was delivered is billed;
- stream cut by the provider (error event, truncation, malformed data): the same, and the
  client gets a well-formed error event and the stream terminator; cut before any output or
  usage was seen, it is billed nothing, like an error status (a built-in tool that already
  ran and was reported to the client counts as output: its fee is billed).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
from aiohttp import web

from billing.stream_tally import StreamTally
from billing.tokens import TokenCounter
from billing.usage import Usage
from gateway.llm.bounded import next_chunk
from gateway.llm.calls import Call
from gateway.llm.http1 import Answer
from gateway.llm.sse import SSEEvent, SSEParser

UPSTREAM_READ_ERRORS = (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, TimeoutError)
STREAM_FAILED = "The provider's stream ended abnormally."


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """How long the relay waits between provider chunks and how large one event may grow."""

    idle_s: float = 300.0
    max_event_bytes: int = 8 * 1024 * 1024


@dataclass(slots=True)
class StreamOutcome:
    usage: Usage
    client_gone: bool = False
    upstream_failed: bool = False
    billable: bool = True  # False: the provider failed before any output; nothing is billed
    stored_id: str | None = None  # a Responses API response the stream created
    finished: bool = True  # the stream reached its end (a terminal event, [DONE], ...)
    cancelled: bool = False  # the task was cancelled: settle what was delivered, then re-raise


def counted_usage(
    call: Call, counter: TokenCounter, text_parts: list[str], input_tokens: int | None = None
) -> Usage:
    completion = counter.completion_counter(call.price.encoding)
    for part in text_parts:
        completion.feed(part)
    tokens = call.input_tokens if input_tokens is None else input_tokens
    return Usage(input_tokens=tokens, output_tokens=completion.count(), source="counted")


def json_usage(call: Call, payload: dict[str, Any], counter: TokenCounter) -> Usage:
    """Usage of a complete JSON answer: the provider's, else counted."""
    reported = call.endpoint.read_usage(payload)
    if reported is not None:
        return reported
    return counted_usage(call, counter, call.endpoint.answer_text(payload))


def _failure_tail(call: Call, tally: StreamTally) -> bytes:
    """What ends a failed stream: our error event, or just the terminator after the provider's."""
    if tally.error is None:
        return call.endpoint.error_event(STREAM_FAILED)
    return call.endpoint.stream_end


def _select(events: list[SSEEvent], tally: StreamTally) -> tuple[bytes, bool]:
    """The bytes to forward, and whether the provider's stream failed (error or malformed data).

    Nothing after a failure is forwarded, and malformed data never is: the client's SDK
    should meet one well-formed error event, not a JSON decode error.
    """
    keep: list[bytes] = []
    for ev in events:
        forward = tally.feed(ev)
        if tally.malformed:
            return b"".join(keep), True
        if forward:
            keep.append(ev.raw if tally.rewrite is None else tally.rewrite)
        if tally.error is not None:
            return b"".join(keep), True
    return b"".join(keep), False


class _Pump:
    """Reads the provider's stream and writes the client's until `gone` is set; after that it
    keeps reading (the provider's final usage comes last) and writes nothing."""

    def __init__(
        self,
        upstream: Answer,
        out: web.StreamResponse,
        tally: StreamTally,
        limits: StreamLimits,
        gone: asyncio.Event,
    ):
        self.upstream = upstream
        self.out = out
        self.tally = tally
        self.limits = limits
        self.gone = gone

    async def run(self) -> bool:
        """Forward events as they arrive; True if the provider's stream ended abnormally."""
        parser = SSEParser()
        while True:
            try:
                chunk = await next_chunk(self.upstream, self.limits.idle_s)
            except UPSTREAM_READ_ERRORS:
                return True
            if not chunk:
                return bool(parser.flush()) or not self.tally.done
            wire, failed = _select(parser.feed(chunk), self.tally)
            await self._write(wire)
            if failed or parser.pending_bytes > self.limits.max_event_bytes:
                return True

    async def _write(self, wire: bytes) -> None:
        if wire and not self.gone.is_set():
            try:
                await self.out.write(wire)
            except ConnectionResetError:
                self.gone.set()


async def relay_stream(
    call: Call,
    upstream: Answer,
    out: web.StreamResponse,
    counter: TokenCounter,
    limits: StreamLimits,
    gone: asyncio.Event,
) -> StreamOutcome:
    """Pass events through as they arrive; hide only the usage chunk the client did not ask for.

    `gone` is set when the client leaves; the caller cancels this after the drain bound."""
    tally = call.endpoint.new_tally(call.client_wants_usage)
    pump = _Pump(upstream, out, tally, limits, gone)
    try:
        failed = await pump.run()
        if not gone.is_set():
            if failed:
                await out.write(_failure_tail(call, tally))
            await out.write_eof()
    except ConnectionResetError:
        gone.set()
    except asyncio.CancelledError:  # the drain bound ran out: settle what was read, re-raise
        return _gone(call, tally, counter, upstream, cancelled=True)
    if gone.is_set():
        return _gone(call, tally, counter, upstream, cancelled=False)
    usage = _stream_usage(call, tally, counter)
    delivered = bool(tally.text_parts) or bool(tally.tool_runs)
    billable = not failed or delivered or tally.reported() is not None
    return StreamOutcome(
        usage, False, failed, billable, stored_id=tally.stored_id, finished=tally.done
    )


def _gone(
    call: Call,
    tally: StreamTally,
    counter: TokenCounter,
    upstream: Answer,
    *,
    cancelled: bool,
) -> StreamOutcome:
    upstream.close()
    return StreamOutcome(
        _stream_usage(call, tally, counter),
        client_gone=True,
        stored_id=tally.stored_id,
        finished=tally.done,
        cancelled=cancelled,
    )


def _stream_usage(call: Call, tally: StreamTally, counter: TokenCounter) -> Usage:
    """The provider's usage when it is final; otherwise input as known, output counted from
    every text part the provider sent (delivered or read after the client left)."""
    parts = tally.text_parts
    provided = tally.reported()
    if provided is not None and tally.usage_final:
        return provided
    if provided is not None:
        output = counted_usage(call, counter, parts).output_tokens
        return replace(provided, output_tokens=output, source="counted")
    return replace(counted_usage(call, counter, parts), tool_runs=tally.tool_runs)
