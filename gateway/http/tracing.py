"""A span per request: its W3C trace context in, `traceresponse` out, and the settlement the
call was debited by, handed to the OTLP exporter (gateway/outbound/otlp.py).

Built only when tracing is on (settings.traces.enabled); otherwise the middleware has no
tracer and nothing here runs. On the request's path the tracer does a few dict operations:
`begin` reads the caller's `traceparent`, `settled` (the meter's hook, as a debit starts)
keeps the settlement record, `end` queues the finished facts. The attributes are built and
encoded by the exporter's background task, after the answer went out.

Ids cost nothing new: a trace without a caller's context takes the request id (already 16
random bytes) as its trace id, and the span id is the request id's first 8 bytes, so a
ledger row's request id finds its trace and its span.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable

from aiohttp import web

from billing.admission import Admitted
from gateway.llm.providers import TRACEPARENT
from gateway.outbound.otlp import INTERNAL, SERVER, SpanData, Value
from gateway.stores.records import Settlement
from gateway.telemetry import metrics
from gateway.trace_settings import TENANT_ATTRIBUTES, TraceSettings

HEX = frozenset("0123456789abcdef")
ZERO_TRACE, ZERO_SPAN = "0" * 32, "0" * 16
# Asked every few seconds by orchestrators and scrapers: answered with their trace headers,
# never exported (a trace backend full of probes hides the calls).
PROBES = frozenset({"/healthz", "/readyz", "/metrics"})
# The metered routes' GenAI operation names (semconv), by the end of their path.
OPERATIONS = (
    ("chat/completions", "chat"),
    ("/completions", "text_completion"),
    ("/embeddings", "embeddings"),
    ("/messages", "chat"),
    ("/responses", "chat"),
    (":generateContent", "generate_content"),
    (":streamGenerateContent", "generate_content"),
    ("/moderations", "moderation"),
    ("/images/generations", "image_generation"),
    ("/images/edits", "image_edit"),
    ("/images/variations", "image_variation"),
    ("/audio/transcriptions", "transcription"),
    ("/audio/translations", "translation"),
    ("/audio/speech", "speech"),
)


class Traced:
    """One request's span while it is served, then its facts until exported."""

    __slots__ = (
        "admitted",
        "billed",
        "end_ns",
        "error",
        "flags",
        "method",
        "model",
        "parent_id",
        "path",
        "request_id",
        "route",
        "scheme",
        "settlement",
        "span_id",
        "start_ns",
        "state",
        "status",
        "trace_id",
    )

    def __init__(self, trace_id: str, span_id: str, parent_id: str, flags: int, state: str) -> None:
        self.trace_id, self.span_id, self.parent_id = trace_id, span_id, parent_id
        self.flags, self.state = flags, state
        self.start_ns = self.end_ns = self.status = 0
        self.request_id = self.method = self.route = self.path = self.scheme = ""
        self.model = self.error = ""
        self.settlement: Settlement | None = None
        self.admitted: Admitted | None = None
        self.billed = False

    @property
    def sampled(self) -> bool:
        return bool(self.flags & 1)

    def header(self) -> str:
        """traceparent's form with this span as the parent: `traceresponse`, and what a
        provider that forwards traces is sent."""
        return f"00-{self.trace_id}-{self.span_id}-{self.flags:02x}"


TRACED = web.RequestKey("traced", Traced)


def parent_of(header: str | None) -> tuple[str, str, int] | None:
    """A valid `traceparent`'s trace id, parent id and flags; None for anything else (the
    spec: a bad header is ignored and a new trace starts). A later version's longer header
    is read by its first four fields."""
    if header is None or len(header) < 55:
        return None
    version, trace_id, parent_id, flags = header[:2], header[3:35], header[36:52], header[53:55]
    if header[2] != "-" or header[35] != "-" or header[52] != "-":
        return None
    if version == "ff" or (version == "00" and len(header) != 55):
        return None
    if len(header) > 55 and header[55] != "-":
        return None
    if not set(version + trace_id + parent_id + flags) <= HEX:
        return None
    if trace_id == ZERO_TRACE or parent_id == ZERO_SPAN:
        return None
    return trace_id, parent_id, int(flags, 16)


def trace_id_of(request_id: str) -> str:
    """A request id as a trace id: itself when it is one (the middleware's), else a hash of
    it (a Realtime turn's `<id>.<n>`), the same every time."""
    if len(request_id) == 32 and set(request_id) <= HEX:
        return request_id
    return hashlib.blake2b(request_id.encode(), digest_size=16).hexdigest()


def _operation(path: str) -> str:
    for tail, name in OPERATIONS:
        if path.endswith(tail):
            return name
    return ""


class Tracer:
    """The per-process span queue between requests and the exporter, bounded."""

    def __init__(self, settings: TraceSettings) -> None:
        self.settings = settings
        self.open: dict[str, Traced] = {}  # request id -> its sampled span while served
        self.queue: deque[Traced] = deque()
        self.dropped = 0  # queue_full; the exporter counts what the collector lost
        self.wake: Callable[[], object] | None = None  # the exporter's, to send a full batch
        ratio = settings.ratio if settings.sampler.endswith("traceidratio") else 1.0
        self._bound = int(ratio * (1 << 64))
        self._root = not settings.sampler.endswith("always_off")
        self._parented = settings.sampler.startswith("parentbased")
        self.forwards = bool(settings.forward_to)

    def _sample(self, trace_id: str) -> bool:
        if not self._root:
            return False
        return self._bound >= 1 << 64 or int(trace_id[16:], 16) < self._bound

    def begin(self, request: web.Request, request_id: str) -> Traced:
        """The request's span context: the caller's trace if it sent a valid one."""
        headers = request.headers
        parent = parent_of(headers.get("traceparent"))
        if parent is None:
            sampled = self._sample(request_id)
            traced = Traced(request_id, request_id[:16], "", int(sampled), "")
        else:
            trace_id, parent_id, flags = parent
            sampled = bool(flags & 1) if self._parented else self._sample(trace_id)
            state = headers.get("tracestate", "")
            traced = Traced(trace_id, request_id[:16], parent_id, int(sampled), state)
        traced.start_ns = time.time_ns()
        traced.request_id = request_id
        request[TRACED] = traced
        if self.forwards:
            TRACEPARENT.set(traced.header())
        if sampled:
            self.open[request_id] = traced
        return traced

    def settled(self, admitted: Admitted, settlement: Settlement, billed: bool) -> None:
        """The meter's hook, as a debit starts (billed) or finds its reservation gone (not).
        A settlement with no request open (a background response or batch seen finished
        later) gets a span of its own."""
        traced = self.open.get(admitted.request_id)
        if traced is None:
            trace_id = trace_id_of(admitted.request_id)
            if not self._sample(trace_id):
                return
            traced = Traced(trace_id, trace_id[:16], "", 1, "")
            traced.request_id = admitted.request_id
            traced.start_ns = traced.end_ns = time.time_ns()
            self._queue(traced)
        traced.settlement, traced.admitted, traced.billed = settlement, admitted, billed

    def end(
        self, request: web.Request, traced: Traced, model: str, status: int, error: str
    ) -> None:
        """The request's end: its facts queued for the exporter, if sampled."""
        if self.open.pop(traced.request_id, None) is None:
            return
        traced.end_ns = time.time_ns()
        traced.status, traced.error, traced.model = status, error, model
        traced.method, traced.path, traced.scheme = request.method, request.path, request.scheme
        resource = request.match_info.route.resource
        traced.route = resource.canonical if resource is not None else ""
        self._queue(traced)

    def _queue(self, traced: Traced) -> None:
        if len(self.queue) >= self.settings.queue_size:
            self.dropped += 1
            metrics().trace_spans_dropped.labels("queue_full").inc()
            return
        self.queue.append(traced)
        if len(self.queue) == self.settings.batch_size and self.wake is not None:
            self.wake()

    def report(self) -> dict[str, object]:
        return {"queued": len(self.queue), "dropped_queue_full": self.dropped}

    def take(self, n: int) -> list[SpanData]:
        """Up to n finished spans, built now (in the exporter's task, not a request's)."""
        out: list[SpanData] = []
        while self.queue and len(out) < n:
            traced = self.queue.popleft()
            if traced.route not in PROBES:
                out.append(span_of(traced, self.settings.tenant))
        return out


async def trace_headers(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare`: every answer, refusals and streams included, says its trace."""
    traced = request.get(TRACED)
    if traced is not None:
        response.headers["traceresponse"] = traced.header()
        response.headers["x-meterway-trace-id"] = traced.trace_id


def span_of(t: Traced, tenant: tuple[str, ...]) -> SpanData:
    """The span's attributes: HTTP server, GenAI semconv, Meterway's money (from the
    settlement record), and only the tenant ids the operator listed. No prompt or
    completion text is ever kept on a `Traced`, so none can reach a span.

    `fixed` holds those whose values repeat from call to call (a route, a model, a price
    version, an outcome): the encoder writes each combination once (otlp_wire.py)."""
    operation = _operation(t.path) if t.path else "settle"
    fixed: tuple[tuple[str, Value], ...] = (("gen_ai.operation.name", operation),)
    if t.method:
        fixed += (
            ("http.request.method", t.method),
            ("http.route", t.route),
            ("url.path", t.path),
            ("url.scheme", t.scheme),
            ("http.response.status_code", t.status),
        )
    if t.error:
        fixed += (("error.type", t.error),)
    if t.model:
        fixed += (("gen_ai.request.model", t.model),)
    varying: tuple[tuple[str, Value], ...] = (("meterway.request_id", t.request_id),)
    s, a = t.settlement, t.admitted
    if s is not None and a is not None:
        fixed += _outcome(s, t.billed)
        varying += _money(s, a) + _tenant(s, a, tenant)
    else:
        fixed += (("meterway.billed", False),)
    model = t.model or (s.model if s is not None else "")
    return SpanData(
        t.trace_id,
        t.span_id,
        t.parent_id,
        f"{operation} {model}" if model else operation,
        SERVER if t.method else INTERNAL,
        t.start_ns,
        t.end_ns,
        varying,
        t.status >= 500,
        t.state,
        fixed,
    )


def _outcome(s: Settlement, billed: bool) -> tuple[tuple[str, Value], ...]:
    return (
        ("gen_ai.provider.name", s.provider),
        ("gen_ai.response.model", s.model),
        ("gen_ai.usage.cost.currency", "USD"),
        ("gen_ai.usage.cost.source", "local"),
        ("meterway.price_version", s.price_version),
        ("meterway.usage_source", "reported" if s.usage.source == "provider" else "counted"),
        ("meterway.billed", billed),
    )


def _money(s: Settlement, a: Admitted) -> tuple[tuple[str, Value], ...]:
    u = s.usage
    return (
        ("gen_ai.usage.input_tokens", u.input_tokens),
        ("gen_ai.usage.output_tokens", u.output_tokens),
        ("gen_ai.usage.cache_read.input_tokens", u.cached_input_tokens),
        ("gen_ai.usage.cache_creation.input_tokens", u.cache_write_tokens),
        ("gen_ai.usage.reasoning.output_tokens", u.reasoning_tokens),
        ("gen_ai.usage.cost.amount", s.cost_micros / 1_000_000),
        ("meterway.cost_micros", s.cost_micros),
        ("meterway.held_micros", a.held_micros),
    )


def _tenant(s: Settlement, a: Admitted, tenant: tuple[str, ...]) -> tuple[tuple[str, Value], ...]:
    if not tenant:
        return ()
    ids = {"account": a.account_id, "key": a.key_id, "plan": a.plan, "end_user": s.end_user}
    return tuple((TENANT_ATTRIBUTES[n], ids[n]) for n in tenant if ids.get(n))
