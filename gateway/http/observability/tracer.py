# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""A span per request: its trace context in (W3C, and B3 when configured), `traceresponse`
out, and the settlement the call was debited by, handed to the OTLP exporter
(gateway/outbound/otlp.py).

Built only when tracing is on (settings.traces.enabled); otherwise the middleware has no
tracer and nothing here runs. On the request's path the tracer does a few dict operations:
`begin` reads the caller's context, `settled` (the meter's hook, as a debit starts) keeps
the settlement record, `end` queues the finished facts. The attributes are built and
encoded by the exporter's background task (`span_attributes.py`), after the answer went out.

Ids cost nothing new: a trace without a caller's context takes the request id (already 16
random bytes) as its trace id, and the span id is the request id's first 8 bytes, so a
ledger row's request id finds its trace and its span.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

from aiohttp import web
from multidict import istr

from billing.metering.finish import finish_reasons
from billing.metering.stream_tally import StreamTally
from billing.money.admission import Admitted
from gateway.config.traces import TraceSettings
from gateway.http.observability.observe import Timing, timing
from gateway.http.observability.span import Traced
from gateway.http.observability.span_attributes import spans_of
from gateway.http.observability.trace_context import (
    DEFERRED,
    context_of,
    outgoing,
    parent_of,
    trace_id_of,
)
from gateway.llm.providers import TRACE_HEADERS
from gateway.outbound.otlp import SpanData
from gateway.services.metering.batches import LineBilled
from gateway.services.money.meter.metered_events import Event, EventResult
from gateway.stores.records import Settlement
from gateway.telemetry import metrics

# Asked every few seconds by orchestrators and scrapers: answered with their trace headers,
# never exported (a trace backend full of probes hides the calls).
PROBES = frozenset({"/healthz", "/readyz", "/metrics"})
# Read on every traced request, as `istr`: a plain str key is lower-cased by every get. Not
# the answer's headers: aiohttp writes an `istr` key through str() where a str goes as is.
TRACEPARENT: Final = istr("traceparent")
MAX_SETTLING: Final = 64  # batches settling at once whose lines wait for their debit's span
# A debit's reply usually comes after its answer went out (the answer waits for the settle
# to be sent, not for its reply: services/money/settlement.py): its span waits for it to say what
# went uncollected, this long at most (a retried or rebooked debit's span leaves without
# it), and this many at once.
REPLY_WAIT_NS: Final = 1_000_000_000
MAX_AWAITING: Final = 4096
# Final: the compiled build keeps it in a C static, where a name from `from time import`
# is a globals dict lookup on each of a request's three reads.
time_ns: Final = time.time_ns


def _late(request_id: str, session: Traced | None) -> Traced:
    """The span of a settlement with no request of its own open: a Realtime turn's debit
    (`<session's request id>.<n>`) is a child of its session's span; a batch or background
    response seen finished later is a root span of its own."""
    if session is None:
        traced = Traced(trace_id_of(request_id), request_id, "", 1, "")
        traced.span_id = traced.trace_id[:16]
    else:
        traced = Traced(session.trace_id, request_id, session.span_id, 1, "")
        traced.span_id = trace_id_of(request_id)[:16]
    traced.end_ns = traced.start_ns
    return traced


class Tracer:
    """The per-process span queue between requests and the exporter, bounded."""

    def __init__(self, settings: TraceSettings) -> None:
        self.settings = settings
        self.open: dict[str, Traced] = {}  # request id -> its sampled span while served
        self.queue: list[Traced] = []  # a list: compiled, its append is mypyc's own
        self.dropped = 0  # queue_full; the exporter counts what the collector lost
        self.wake: Callable[[], object] | None = None  # the exporter's, to send a full batch
        ratio = settings.ratio if settings.sampler.endswith("traceidratio") else 1.0
        self._bound = int(ratio * (1 << 64))
        self._root = not settings.sampler.endswith("always_off")
        self._parented = settings.sampler.startswith("parentbased")
        self._always = int(self._root and self._bound >= 1 << 64)  # no id to read
        self._queue_size, self._batch_size = settings.queue_size, settings.batch_size
        self.forwards = bool(settings.forward_to)
        self._propagators = settings.propagators
        self._w3c_only = settings.propagators == ("tracecontext",)
        self.lines: dict[str, list[LineBilled]] = {}  # a settling batch's billed lines
        # spans gone from `open` whose debit's reply is still due (`end` moves them here)
        self.awaiting: dict[str, Traced] = {}

    def _sample(self, trace_id: str) -> bool:
        if not self._root:
            return False
        return self._bound >= 1 << 64 or int(trace_id[16:], 16) < self._bound

    def begin(self, request: web.Request, request_id: str, clock: Timing) -> Traced:
        """The request's span context: the caller's trace if it sent a valid one. Kept on
        the request's timing (`clock.traced`), which the middleware holds anyway."""
        headers = request.headers
        if self._w3c_only:
            header = headers.get(TRACEPARENT)
            parent = None if header is None else parent_of(header)
        else:
            parent = context_of(headers, self._propagators)
        if parent is None:
            flags = self._always or int(self._sample(request_id))
            traced = Traced(request_id, request_id, "", flags, "")
        else:
            trace_id, parent_id, flags = parent
            if self._parented and not flags & DEFERRED:
                sampled = bool(flags & 1)
            else:
                sampled = self._sample(trace_id)
            state = headers.get("tracestate", "")
            traced = Traced(trace_id, request_id, parent_id, int(sampled), state)
        clock.traced = traced
        if self.forwards:
            TRACE_HEADERS.set(
                outgoing(self._propagators, traced.trace_id, traced.span_id, traced.sampled)
            )
        if traced.flags:
            self.open[request_id] = traced
        return traced

    def settled(self, admitted: Admitted, settlement: Settlement, billed: bool) -> None:
        """The meter's hook, as a debit starts (billed) or finds its reservation gone (not).
        A settlement with no request open gets a span of its own."""
        rid = admitted.request_id
        traced = self.open.get(rid)
        if traced is None:
            session = self.open.get(rid.partition(".")[0]) if "." in rid else None
            traced = _late(rid, session)
            if session is None and not self._sample(traced.trace_id):
                self.lines.pop(rid, None)
                return
            self._queue(traced)
            if rid in self.lines:
                traced.more().events.extend(_line_events(self.lines.pop(rid)))
            if billed:
                self._await(rid, traced)
        traced.settlement, traced.admitted, traced.billed = settlement, admitted, billed
        if billed:
            traced.awaiting, traced.awaited_ns = True, time_ns()

    def _await(self, request_id: str, traced: Traced) -> None:
        """A span whose debit's reply is due, its request gone: `answered` finds it here."""
        if len(self.awaiting) >= MAX_AWAITING:  # replies that never came: let go
            self.awaiting.clear()
        self.awaiting[request_id] = traced

    def answered(self, request_id: str) -> None:
        """The settlements' hook when Redis answered a debit: its span may leave. Most
        replies come while the request is open, its span still in `open`."""
        traced = self.open.get(request_id)
        if traced is None:
            traced = self.awaiting.get(request_id)
            if traced is None:
                return
            del self.awaiting[request_id]  # get and del: no primitive for dict.pop
        traced.awaiting = False

    def batch_lines(self, request_id: str, lines: list[LineBilled]) -> None:
        """The batch book's hook, just before a batch's debit: its billed lines, which
        that debit's span takes as span events (`settled`)."""
        if len(self.lines) >= MAX_SETTLING:  # a batch whose debit never came: let go
            self.lines.clear()
        self.lines[request_id] = lines

    def uncollected(self, request_id: str, micros: int) -> None:
        """The meter's hook when settle.lua could not collect part of a debit (the balance
        or a spend window ran out): the span says how much."""
        traced = self.awaiting.get(request_id) or self.open.get(request_id)
        if traced is None:  # the span already left its request: find it in the queue
            traced = next((t for t in self.queue if t.request_id == request_id), None)
        if traced is not None:
            traced.uncollected = micros

    def end(
        self,
        request: web.Request,
        match: web.UrlMappingMatchInfo,
        traced: Traced,
        model: str,
        status: int,
        error: str,
    ) -> None:
        """The request's end: its facts queued for the exporter, if sampled. The route and
        the URL's path are read from the match (the middleware's, read once for /metrics
        too) and the URL in the exporter's task."""
        opened = self.open
        if traced.request_id not in opened:  # `in` and del: no primitive for dict.pop
            return
        del opened[traced.request_id]
        traced.end_ns = time_ns()
        traced.status, traced.error, traced.model = status, error, model
        traced.method, traced.url, traced.match = request.method, request.rel_url, match
        if traced.awaiting:
            self._await(traced.request_id, traced)
        queue = self.queue
        if len(queue) >= self._queue_size:
            return self._full()
        queue.append(traced)
        if len(queue) == self._batch_size and self.wake is not None:
            self.wake()

    def _full(self) -> None:
        self.dropped += 1
        metrics().trace_spans_dropped.labels("queue_full").inc()

    def _queue(self, traced: Traced) -> None:
        if len(self.queue) >= self.settings.queue_size:
            return self._full()
        self.queue.append(traced)
        if len(self.queue) == self.settings.batch_size and self.wake is not None:
            self.wake()

    def report(self) -> dict[str, object]:
        return {"queued": len(self.queue), "dropped_queue_full": self.dropped}

    def take(self, n: int, final: bool = False) -> list[SpanData]:
        """Up to n finished requests' spans, built now (in the exporter's task, not a
        request's): a request's own span and a child per provider attempt."""
        out: list[SpanData] = []
        tenant, waiting, now = self.settings.tenant, [], time_ns()
        queue, taken = self.queue, 0
        while taken < len(queue) and len(out) < n:
            traced = queue[taken]
            taken += 1
            if traced.awaiting and not final and now - traced.awaited_ns < REPLY_WAIT_NS:
                waiting.append(traced)  # its debit's reply is due: the next export takes it
            elif traced.path not in PROBES:
                out += spans_of(traced, tenant)
        self.queue = waiting + queue[taken:]
        return out


def _line_events(
    lines: list[LineBilled],
) -> list[tuple[str, int, tuple[tuple[str, str | int], ...]]]:
    """A batch's billed lines, each a span event: its place in the output file, its tokens
    and its share of the batch's debit (the `cost_micros` the downloaded line carries)."""
    at = time.time_ns()
    return [
        (
            "meterway.batch_line",
            at,
            (
                ("meterway.batch.line", index),
                ("gen_ai.usage.input_tokens", u.input_tokens),
                ("gen_ai.usage.output_tokens", u.output_tokens),
                ("gen_ai.usage.cache_read.input_tokens", u.cached_input_tokens),
                ("gen_ai.usage.cache_creation.input_tokens", u.cache_write_tokens),
                ("gen_ai.usage.reasoning.output_tokens", u.reasoning_tokens),
                ("meterway.cost_micros", share),
            ),
        )
        for index, u, share in lines
    ]


def answer_headers(traced: Traced, response: web.StreamResponse) -> None:
    """Every answer, refusals and streams included, says its trace: the middleware sets these
    on an answer it returns unprepared, `trace_prepared` on one a handler prepares itself
    (a stream, a WebSocket). Not aiohttp's on_response_prepare signal: its dispatch alone
    cost more than these two headers (docs/performance.md, Traces)."""
    headers = response.headers
    headers["traceresponse"] = traced.header()
    headers["x-meterway-trace-id"] = traced.trace_id


def trace_into(clock: Timing, headers: dict[str, str]) -> None:
    """The trace headers put in the headers an answer is about to be built with, where
    the proxy builds its own: cheaper than on the built answer (`response.headers` is a
    Python property), and the middleware then leaves a returned answer as it is."""
    traced = clock.traced
    if traced is not None:
        headers["traceresponse"] = traced.header()
        headers["x-meterway-trace-id"] = traced.trace_id
        traced.told = True


def trace_prepared(request: web.Request, response: web.StreamResponse) -> None:
    """Before a handler prepares its own answer (the middleware sees it only once sent)."""
    traced = timing(request).traced
    if traced is not None:
        answer_headers(traced, response)


def traced_events(request: web.Request, events: list[Event], results: list[EventResult]) -> None:
    """A metering batch's events on its request's span, one span event each: its meter,
    quantity, outcome and debit (the service's name is the span's; no account id)."""
    traced = timing(request).traced
    if traced is None or not traced.flags:
        return
    at = time.time_ns()
    kept = traced.more().events
    for event, result in zip(events, results, strict=True):
        attrs: tuple[tuple[str, str | int], ...] = (
            ("meterway.meter", event.meter),
            ("meterway.quantity", event.quantity),
            ("meterway.event.status", result.status),
            ("meterway.cost_micros", result.cost_micros),
        )
        if result.error is not None:
            attrs += (("error.type", str(result.error.get("code", ""))),)
        kept.append(("meterway.metering_event", at, attrs))


def finished(clock: Timing, answer: dict[str, Any]) -> None:
    """A plain answer's finish reasons on its span (read only when the request is traced:
    no text of the answer is kept)."""
    traced = clock.traced
    if traced is not None and traced.flags:
        traced.finish = finish_reasons(answer)


def streamed(clock: Timing, tally: StreamTally) -> None:
    """A stream's finish reasons on its span, as its tally read them from the events it
    reads anyway (the last choice chunks, message_delta, the terminal response)."""
    traced = clock.traced
    if traced is not None and traced.flags:
        traced.finish = tally.finish_reasons()
