# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""A finished request's spans, built in the exporter's task from what the tracer kept
(http/observability/tracer.py): the server span with the HTTP, GenAI semconv and Meterway attributes
(the money from the settlement record), a child span per provider attempt of a call with
deployments, and a metering batch's events as span events.

No prompt or completion text is ever kept on a `Traced`, so none can reach a span; tenant
ids go on only as the operator listed them (TRACE_TENANT_ATTRIBUTES).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from billing.money.admission import Admitted
from gateway.config.traces import TENANT_ATTRIBUTES
from gateway.outbound import otlp_wire as wire
from gateway.outbound.otlp import CLIENT, INTERNAL, SERVER, SpanData, Value
from gateway.stores.records import Settlement

if TYPE_CHECKING:
    from gateway.http.observability.span import Attempt, Traced

Pairs = tuple[tuple[str, Value], ...]
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
    ("/realtime", "realtime"),
    ("/events", "metering"),
)
MCP_PREFIX = "/mcp/"  # an MCP server's route: a tool call is semconv's execute_tool


def operation_of(path: str) -> str:
    if path.startswith(MCP_PREFIX):
        return "execute_tool"
    for tail, name in OPERATIONS:
        if path.endswith(tail):
            return name
    return ""


def spans_of(t: Traced, tenant: tuple[str, ...]) -> list[SpanData]:
    """The request's span, then a child per provider attempt (if it had deployments)."""
    span = span_of(t, tenant)
    if t.extra is None or not t.extra.attempts:
        return [span]
    billed = t.settlement is not None and t.billed
    attempts = t.extra.attempts
    return [span, *(_attempt(t, n, a, billed, span.name) for n, a in enumerate(attempts, 1))]


def span_of(t: Traced, tenant: tuple[str, ...]) -> SpanData:
    """The server span (or, for a settlement with no request, an internal one).

    `fixed` holds the attributes whose values repeat from call to call (a route, a model,
    a price version, an outcome): the encoder writes each combination once (otlp_wire.py)."""
    operation = operation_of(t.path) if t.path else "settle"
    s = t.settlement
    fixed = _http(t, operation) + (_outcome(s, t.billed) if s is not None else _UNBILLED)
    varying: Pairs = (("meterway.request_id", t.request_id),)
    if s is not None:
        varying += _money(s, t.admitted, t.uncollected) + _tenant(s, t.admitted, tenant)
    model = t.model or (s.model if s is not None else "")
    events = b"" if t.extra is None else _events(t)
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
        events,
    )


_UNBILLED: Pairs = (("meterway.billed", False),)


def _http(t: Traced, operation: str) -> Pairs:
    if not t.method:
        return (("gen_ai.operation.name", operation),)
    resource = None if t.match is None else t.match.route.resource
    route = resource.canonical if resource is not None else ""
    fixed: Pairs = (
        ("gen_ai.operation.name", operation),
        ("http.request.method", t.method),
        ("http.route", route),
        ("url.path", t.path),
        ("url.scheme", "http"),  # the listener speaks HTTP: TLS ends in front of it
        ("http.response.status_code", t.status),
    )
    if t.error:
        fixed += (("error.type", t.error),)
    if t.model:
        fixed += (("gen_ai.request.model", t.model),)
    if t.finish:
        fixed += (("gen_ai.response.finish_reasons", t.finish),)
    return fixed


def _outcome(s: Settlement, billed: bool) -> Pairs:
    return (
        ("gen_ai.provider.name", s.provider),
        ("gen_ai.response.model", s.model),
        ("gen_ai.usage.cost.currency", "USD"),
        ("gen_ai.usage.cost.source", "local"),
        ("meterway.price_version", s.price_version),
        ("meterway.usage_source", "reported" if s.usage.source == "provider" else "counted"),
        ("meterway.billed", billed),
    )


def _money(s: Settlement, a: Admitted, uncollected: int) -> Pairs:
    u = s.usage
    return (
        ("gen_ai.usage.input_tokens", u.input_tokens),
        ("gen_ai.usage.output_tokens", u.output_tokens),
        ("gen_ai.usage.cache_read.input_tokens", u.cached_input_tokens),
        ("gen_ai.usage.cache_creation.input_tokens", u.cache_write_tokens),
        ("gen_ai.usage.reasoning.output_tokens", u.reasoning_tokens),
        ("gen_ai.usage.cost.amount", (s.cost_micros - uncollected) / 1_000_000),
        ("meterway.cost_micros", s.cost_micros - uncollected),
        ("meterway.held_micros", a.held_micros),
        ("meterway.uncollected_micros", uncollected),
    )


def _tenant(s: Settlement, a: Admitted, tenant: tuple[str, ...]) -> Pairs:
    if not tenant:
        return ()
    ids = {"account": a.account_id, "key": a.key_id, "plan": a.plan, "end_user": s.end_user}
    return tuple((TENANT_ATTRIBUTES[n], ids[n]) for n in tenant if ids.get(n))


def _attempt(t: Traced, n: int, a: Attempt, billed: bool, name: str) -> SpanData:
    """A provider attempt as a client span under the request's: its provider, the model id
    it was sent, what it answered, and whether it is the one billed (only the attempt that
    served the call can be)."""
    span_id = f"{int(t.span_id, 16) ^ n:016x}"
    fixed: Pairs = (
        ("gen_ai.operation.name", name.split(" ", 1)[0]),
        ("gen_ai.provider.name", a.provider),
        ("gen_ai.request.model", a.model),
        ("meterway.attempt.outcome", a.outcome),
        ("meterway.billed", billed and a.served),
    )
    if not a.served:
        fixed += (("error.type", a.outcome),)
    return SpanData(
        t.trace_id,
        span_id,
        t.span_id,
        f"attempt {a.provider} {a.model}",
        CLIENT,
        a.start_ns,
        a.end_ns or t.end_ns,
        (("meterway.attempt", n), ("meterway.request_id", t.request_id)),
        not a.served,
        "",
        fixed,
    )


def _events(t: Traced) -> bytes:
    """A metering batch's events, each a span event with its outcome and amount."""
    assert t.extra is not None
    return b"".join(wire.event(name, at, attrs) for name, at, attrs in t.extra.events)
