# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""Relaying a provider's answer to the client and deciding what usage to bill.

Billing policy (README, "What gets billed"):
- upstream error status, network failure before any output: nothing billed, reservation released;
- complete answer: the provider's usage, or tokens counted with tiktoken when it reports none;
- stream: settled from the provider's final usage; its end (the event carrying that usage,
  relayed with the debit as `usage.cost_micros`, else `[DONE]` or the final event, and the
  terminator) is held until the settle is sent (or its answer budget runs out), so a
  client never holds a whole stream whose settle a crash could lose; what came before it
  was relayed as it arrived;
- stream cut by the client: the upstream is still read (nothing more is written) for up to
  STREAM_DRAIN_TIMEOUT_S, to get the provider's final usage, hidden reasoning included; if it
  does not come in time, input plus every output token read from the provider, counted;
- a single SSE event larger than MAX_SSE_EVENT_BYTES, or no byte for UPSTREAM_IDLE_TIMEOUT_S,
  fails the stream like a truncation: what was delivered is billed;
- stream cut by the provider (error event, truncation, malformed data): the same, and the
  client gets a well-formed error event (the provider's scrubbed as its error statuses are)
  and the stream terminator, both after the settle is sent; cut before any output or
  usage was seen, it is billed nothing, like an error status (a built-in tool that already
  ran and was reported to the client counts as output: its fee is billed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Final, final

import aiohttp
from aiohttp import web

from billing.metering.stream_tally import StreamTally
from billing.metering.tokens import TokenCounter
from billing.metering.usage import Usage
from billing.values import Value, replace
from gateway.llm.bedrock import EventStreamToSSE
from gateway.llm.bounded import Source, next_chunk
from gateway.llm.cost_field import costed_event
from gateway.llm.reading.calls import Call
from gateway.llm.sse import SSEEvent, SSEParser

UPSTREAM_READ_ERRORS = (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, TimeoutError)
STREAM_FAILED = "The provider's stream ended abnormally."


@final
class StreamLimits(Value):
    """How long the relay waits between provider chunks and how large one event may grow."""

    def __init__(self, idle_s: float = 300.0, max_event_bytes: int = 8 * 1024 * 1024) -> None:
        self.idle_s: Final = idle_s
        self.max_event_bytes: Final = max_event_bytes


@final
class StreamOutcome:
    def __init__(
        self,
        usage: Usage,
        client_gone: bool = False,
        upstream_failed: bool = False,
        billable: bool = True,
        stored_id: str | None = None,
        finished: bool = True,
        cancelled: bool = False,
    ) -> None:
        self.usage = usage
        self.client_gone = client_gone
        self.upstream_failed = upstream_failed
        self.billable = billable  # False: the provider failed before any output; nothing is billed
        self.stored_id = stored_id  # a Responses API response the stream created
        self.finished = finished  # the stream reached its end (a terminal event, [DONE], ...)
        # The task was cancelled: settle what was delivered, then re-raise
        self.cancelled = cancelled


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
    if call.endpoint.answer_usage is not None:
        return call.endpoint.answer_usage(call.price, call.body, payload, call.input_tokens)
    reported = call.endpoint.read_usage(payload)
    if reported is not None:
        return reported
    return counted_usage(call, counter, call.endpoint.answer_text(payload))


def _failure_tail(call: Call, tally: StreamTally) -> bytes:
    """What ends a failed stream: our error event, or just the terminator after the provider's."""
    if tally.error is None:
        return call.endpoint.error_event(STREAM_FAILED)
    return call.endpoint.stream_end


# A streamed answer's receipt, before its held end: `: x-meterway-receipt <JWS>`. Only on
# the wires whose SDKs read server-sent events by the standard, which skips comment lines
# (google-genai's reader takes any line but `data:` as the start of a JSON error).
RECEIPT_COMMENT = b": x-meterway-receipt "
RECEIPT_WIRES = frozenset({"openai", "anthropic"})


class StreamRelay:
    """Reads the provider's stream and writes the client's, in two steps around settlement.

    `run` forwards events as they arrive and stops at the stream's end, which it holds: the
    event carrying the final usage the client will see (chat's usage chunk when asked for,
    Anthropic's `message_delta`, the Responses API's terminal event), else the event that
    ends the stream (`[DONE]`, a final event), else, for a failed stream, its error event;
    the terminator is always held. The caller settles (`Settlements.settle` returns once the
    settle is sent), then `finish` writes what was held, the usage event with the debit in
    its usage, and relays the rest. Once `gone` is set nothing more is written, and the
    provider is still read to its end (its final usage comes last) until the caller's
    drain bound cancels it."""

    def __init__(
        self,
        call: Call,
        upstream: Source,
        out: web.StreamResponse,
        counter: TokenCounter,
        limits: StreamLimits,
        gone: asyncio.Event,
        parser: SSEParser | EventStreamToSSE | None = None,
        scrub: Callable[[bytes], bytes] | None = None,
    ):
        self.call = call
        self.upstream = upstream
        self.out = out
        self.counter = counter
        self.limits = limits
        self.gone = gone
        self.tally = call.endpoint.new_tally(call.client_wants_usage)
        self.parser = SSEParser() if parser is None else parser
        self.held: list[SSEEvent] = []  # events read with the held end, not yet tallied
        self._head = b""  # the held bytes `finish` writes first
        self._usage_event: SSEEvent | None = None  # the held event `finish` writes costed
        self._ended: bool | None = None  # the provider's stream: None read on, True failed
        self._watch = True  # until the usage is final
        self._open = True  # until the end is held
        self._scrub = scrub  # an error event's bytes as a client may read them

    async def run(self) -> StreamOutcome:
        """Relay up to the stream's end, held for `finish`; the caller cancels this after the
        drain bound once the client left."""
        try:
            self._ended = await self._pump([], b"")
        except asyncio.CancelledError:  # the drain bound ran out: settle what was read, re-raise
            return self._gone(cancelled=True)
        if self._ended is None or not self.gone.is_set():
            return self._outcome(self._ended is True)
        return self._gone(cancelled=False)

    async def finish(self, cost: int | None, receipt: str | None = None) -> bool:
        """Write the held end, the usage event with `cost_micros` when the debit is known,
        relay the rest and the terminator; True if cancelled meanwhile (the caller re-raises
        once it is done). A `receipt` goes first, as an SSE comment line, which every SSE
        reader skips (`RECEIPT_WIRES`)."""
        event, head, self._head = self._usage_event, self._head, b""
        if event is not None and cost is not None:
            head = costed_event(event, self.call.endpoint.stream_cost_path, cost)
        if receipt is not None:
            head = RECEIPT_COMMENT + receipt.encode() + b"\n\n" + head
        try:
            if self._ended is None:
                self._ended = bool(await self._pump(self.held, head))
                head = b""
            await self._end(self._ended, head)
        except ConnectionResetError:
            self.gone.set()
        except asyncio.CancelledError:
            self.upstream.close()
            return True
        if self.gone.is_set():
            self.upstream.close()
        return False

    async def _pump(self, events: list[SSEEvent], head: bytes) -> bool | None:
        """Forward `events`, then what arrives; True if the provider's stream ended
        abnormally, False at its end, None when its end is held."""
        while True:
            failed = False
            if events:  # a chunk inside one event completes none: nothing to select
                wire, failed, held = self._select(events)
                head += wire
                if held:
                    await self._write(head)
                    return None
            if head:
                await self._write(head)
                head = b""
            if failed or self.parser.pending_bytes > self.limits.max_event_bytes:
                return True
            try:
                chunk = await next_chunk(self.upstream, self.limits.idle_s)
            except UPSTREAM_READ_ERRORS:
                return True
            if not chunk:
                return bool(self.parser.flush()) or not self.tally.done
            events = self.parser.feed(chunk)

    def _select(self, events: list[SSEEvent]) -> tuple[bytes, bool, bool]:
        """The bytes to forward, whether the provider's stream failed (error or malformed
        data), and whether its end is reached and held (with the events after it).

        Nothing after a failure is forwarded, and malformed data never is: the client's SDK
        should meet one well-formed error event, not a JSON decode error. The error event
        itself is the failed stream's end: held while the end is (`_head`).
        """
        keep: list[bytes] = []
        tally = self.tally
        for at, ev in enumerate(events):
            forward = tally.feed(ev)
            if tally.malformed:
                return b"".join(keep), True, False
            wire = b""
            if forward:
                wire = ev.raw if tally.rewrite is None else tally.rewrite
            if tally.error is not None:  # the stream's last event: scrubbed, never the others
                if wire and self._scrub is not None:
                    wire = self._scrub(wire)
                if self._open:
                    self._open, self._head, wire = False, wire, b""
                keep.append(wire)
                return b"".join(keep), True, False
            if self._open and self._ends(ev, forward):
                self._open, self._head, self.held = False, wire, events[at + 1 :]
                return b"".join(keep), False, True
            keep.append(wire)
        return b"".join(keep), False, False

    def _ends(self, ev: SSEEvent, forward: bool) -> bool:
        """Whether the event just fed is where the stream's end starts: the one that made
        the usage final, when it goes to the client as it came (not rewritten without its
        usage; then it is `_usage_event`), or the one that ends the stream."""
        tally = self.tally
        if self._watch and tally.usage_final:
            self._watch = False  # this event made the usage final
            if forward and tally.rewrite is None:
                self._usage_event = ev
                return True
        return tally.done

    async def _write(self, wire: bytes) -> None:
        if not self.gone.is_set():
            try:
                await self.out.write(wire)
            except ConnectionResetError:
                self.gone.set()

    async def _end(self, failed: bool, head: bytes) -> None:
        """The held bytes, a failed stream's tail, the terminator."""
        if not self.gone.is_set():
            if failed:
                head += _failure_tail(self.call, self.tally)
            if head:
                await self.out.write(head)
            await self.out.write_eof()

    def _outcome(self, failed: bool) -> StreamOutcome:
        tally = self.tally
        usage = _stream_usage(self.call, tally, self.counter)
        delivered = bool(tally.text_parts) or bool(tally.tool_runs)
        billable = not failed or delivered or tally.reported() is not None
        gone = self.gone.is_set()
        return StreamOutcome(usage, gone, failed, billable, tally.stored_id, tally.done)

    def _gone(self, *, cancelled: bool) -> StreamOutcome:
        self.upstream.close()
        self._ended = bool(self._ended)  # closed: `finish` reads nothing more
        self.gone.set()  # cancelled: a stream cut here gets no end, nor a terminator
        return StreamOutcome(
            _stream_usage(self.call, self.tally, self.counter),
            client_gone=True,
            stored_id=self.tally.stored_id,
            finished=self.tally.done,
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
