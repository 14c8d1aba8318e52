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

from gateway.outbound import otlp_wire as wire
from gateway.outbound.otlp_wire import Value
from gateway.telemetry import metrics
from gateway.trace_settings import TraceSettings

log = logging.getLogger("meterway.traces")
SCOPE = "meterway"
INTERNAL, SERVER = 1, 2  # Span.SpanKind
__all__ = ["INTERNAL", "SERVER", "Exporter", "SpanData", "Value", "encode"]


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
    )


def encode(spans: Sequence[SpanData], settings: TraceSettings) -> bytes:
    """An ExportTraceServiceRequest: one resource (the service and OTEL_RESOURCE_ATTRIBUTES),
    one scope, the spans."""
    resource = dict(settings.resource)
    resource["service.name"] = settings.service_name
    return wire.request(resource.items(), SCOPE, [_span(s) for s in spans])


class Exporter:
    """Takes batches from `take` and POSTs them; a failed batch is dropped and counted (a
    retry queue would only grow while a collector is down, and spans are not money)."""

    def __init__(self, settings: TraceSettings, take: Callable[[int], list[SpanData]]) -> None:
        self.settings = settings
        self.take = take
        self.wake = asyncio.Event()
        self.sent = 0
        self.dropped = 0
        self.last_error = ""
        self._warned_at = 0.0

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
                await self._nap(stop)
                await self.flush(session)
            await self.flush(session)

    async def _nap(self, stop: asyncio.Event) -> None:
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wake.wait())]
        await asyncio.wait(waits, timeout=self.settings.delay_s, return_when="FIRST_COMPLETED")
        for w in waits:
            w.cancel()
        self.wake.clear()

    async def flush(self, session: aiohttp.ClientSession) -> None:
        while batch := self.take(self.settings.batch_size):
            await self._send(session, batch)

    async def _send(self, session: aiohttp.ClientSession, batch: list[SpanData]) -> None:
        body = encode(batch, self.settings)
        headers = {"content-type": "application/x-protobuf", **dict(self.settings.headers)}
        if self.settings.gzip:
            body, headers["content-encoding"] = gzip.compress(body), "gzip"
        try:
            async with session.post(self.settings.endpoint, data=body, headers=headers) as resp:
                if resp.status >= 300:
                    text = (await resp.text())[:200]
                    return self._failed(len(batch), f"collector answered {resp.status}: {text}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            return self._failed(len(batch), f"collector unreachable: {exc!r}")
        self.sent += len(batch)

    def _failed(self, n: int, why: str) -> None:
        self.last_error = why
        self.lost(n, "export_failed")
        now = time.monotonic()
        if now - self._warned_at > 60:  # once a minute at most: a down collector is one fact
            self._warned_at = now
            log.warning("%d spans not exported: %s", n, why)
