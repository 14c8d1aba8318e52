# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""Spans to an OpenTelemetry collector: OTLP over HTTP/protobuf, batched, in the background.

Not the opentelemetry-sdk: its span objects, processors and locks would run on the event
loop for every request, where Meterway only needs to hand a finished record to a queue. The
bytes are written by `otlp_wire.py` (protobuf's wire format for the few fields set); the
tests decode them with opentelemetry-proto's own classes.

The exporter never holds up a request: `Exporter.run` takes what the tracer queued, at most
a batch at a time, and a collector that is down, slow or refusing costs the batch (counted
in `meterway_trace_spans_dropped` and shown in /readyz), never a request.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import aiohttp

from gateway.config.traces import Export, TraceSettings
from gateway.outbound import otlp_wire as wire
from gateway.outbound.otlp_wire import Value
from gateway.scrubbing import kept
from gateway.telemetry import metrics

log = logging.getLogger("meterway.traces")
SCOPE = "meterway"
INTERNAL, SERVER, CLIENT = 1, 2, 3  # Span.SpanKind
__all__ = ["CLIENT", "INTERNAL", "SERVER", "Exporter", "SpanData", "Value", "encode"]


class SpanData(NamedTuple):
    """One finished span, plain: what the tracer builds and the encoder writes."""

    trace_id: str  # 32 hex digits
    span_id: str  # 16 hex digits
    parent_id: str  # 16 hex digits, or "" for a root span
    name: str
    kind: int
    start_ns: int
    end_ns: int
    attributes: tuple[tuple[str, Value], ...]
    failed: bool = False  # status ERROR (a server span's 5xx)
    tracestate: str = ""
    # Attributes whose values repeat from span to span: encoded once per combination.
    fixed: tuple[tuple[str, Value], ...] = ()
    events: bytes = b""  # Span.events fields, written (otlp_wire.event)


def _span(s: SpanData) -> bytes:
    return wire.span(
        bytes.fromhex(s.trace_id),
        bytes.fromhex(s.span_id),
        bytes.fromhex(s.parent_id),
        s.tracestate,
        s.name,
        s.kind,
        s.start_ns,
        s.end_ns,
        s.attributes,
        s.failed,
        s.fixed,
        s.events,
    )


def encode(spans: Sequence[SpanData], settings: TraceSettings) -> bytes:
    """An ExportTraceServiceRequest: one resource (the service and OTEL_RESOURCE_ATTRIBUTES),
    one scope, the spans."""
    resource = dict(settings.resource)
    resource["service.name"] = settings.service_name
    return wire.request(resource.items(), SCOPE, [_span(s) for s in spans])


async def nap(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    """Until `seconds` pass, the process stops, or `wake` is set (then cleared)."""
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    await asyncio.wait(waits, timeout=seconds, return_when="FIRST_COMPLETED")
    for w in waits:
        w.cancel()
    wake.clear()


async def post(session: aiohttp.ClientSession, settings: Export, body: bytes) -> str:
    """One export to the collector: "" when it took it, else why not (never raised: a
    collector that is down is a fact to count, not an error of the gateway's)."""
    headers = {"content-type": "application/x-protobuf", **dict(settings.headers)}
    if settings.gzip:
        body, headers["content-encoding"] = gzip.compress(body), "gzip"
    try:
        async with session.post(settings.endpoint, data=body, headers=headers) as resp:
            if resp.status >= 300:
                text = kept(await resp.text(), [v for _, v in settings.headers], 200)
                return f"collector answered {resp.status}: {text}"
    except (aiohttp.ClientError, TimeoutError) as exc:
        return kept(f"collector unreachable: {exc!r}", [v for _, v in settings.headers])
    return ""


class Exporter:
    """Takes batches from `take` and POSTs them; a failed batch is dropped and counted (a
    retry queue would only grow while a collector is down, and spans are not money)."""

    def __init__(
        self, settings: TraceSettings, take: Callable[[int, bool], list[SpanData]]
    ) -> None:
        self.settings = settings
        self.take = take
        self.wake = asyncio.Event()
        self.sent = 0
        self.dropped = 0
        self.last_error = ""
        self._warn = OnceAMinute()

    def report(self) -> dict[str, object]:
        """What /readyz shows: a collector being down never makes the gateway unready."""
        return {
            "endpoint": self.settings.endpoint,
            "sent": self.sent,
            "dropped": self.dropped,
            "last_error": self.last_error,
        }

    def lost(self, n: int, why: str) -> None:
        self.dropped += n
        metrics().trace_spans_dropped.labels(why).inc(n)

    async def run(self, stop: asyncio.Event) -> None:
        """Every OTEL_BSP_SCHEDULE_DELAY, or sooner when a batch is full: send what is queued.
        A stop sends what is left once."""
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while not stop.is_set():
                await nap(stop, self.wake, self.settings.delay_s)
                await self.flush(session)
            await self.flush(session, final=True)

    async def flush(self, session: aiohttp.ClientSession, final: bool = False) -> None:
        """Send what is queued; `final`: every span, none left to wait for its debit."""
        while batch := self.take(self.settings.batch_size, final):
            await self._send(session, batch)

    async def _send(self, session: aiohttp.ClientSession, batch: list[SpanData]) -> None:
        why = await post(session, self.settings, encode(batch, self.settings))
        if why:
            return self._failed(len(batch), why)
        self.sent += len(batch)

    def _failed(self, n: int, why: str) -> None:
        self.last_error = why
        self.lost(n, "export_failed")
        if self._warn.due():
            log.warning("%d spans not exported: %s", n, why)


class OnceAMinute:
    """A down collector is one fact, not a log line per export: `due` at most once a minute."""

    def __init__(self) -> None:
        self._at = 0.0

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._at > 60:
            self._at = now
            return True
        return False
