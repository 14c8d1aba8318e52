"""A local OpenTelemetry collector for the tests: an aiohttp server at /v1/traces and
/v1/metrics that decodes each body as the protobuf ExportTraceServiceRequest or
ExportMetricsServiceRequest (opentelemetry-proto's own classes) and keeps the spans and the
metrics, as a real collector's OTLP/HTTP receiver would."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.support.harness import listen, listening_socket, port_of


def value_of(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return tuple(value_of(x) for x in v.array_value.values)
    return getattr(v, kind) if kind else None


@dataclass
class Received:
    """A span as the collector got it, with its resource's and its own attributes."""

    span: Span
    resource: dict[str, Any]
    attrs: dict[str, Any]


@dataclass
class Export:
    """One ExportMetricsServiceRequest: its resource's attributes and its metrics by name."""

    resource: dict[str, Any]
    metrics: dict[str, Metric]


@dataclass
class Receiver:
    url: str
    spans: list[Received] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    exports: list[Export] = field(default_factory=list)
    refuse_metrics: bool = False  # answer /v1/metrics with a 503

    async def span(self, where: Callable[[Received], bool], timeout_s: float = 10) -> Received:
        async with asyncio.timeout(timeout_s):
            while True:
                found = [s for s in self.spans if where(s)]
                if found:
                    return found[0]
                await asyncio.sleep(0.02)

    async def for_request(self, request_id: str) -> Received:
        return await self.span(lambda s: s.attrs.get("meterway.request_id") == request_id)


def _keep(receiver: Receiver, body: bytes) -> None:
    receiver.bodies.append(body)
    message = ExportTraceServiceRequest()
    message.ParseFromString(body)
    for rs in message.resource_spans:
        resource = {a.key: value_of(a.value) for a in rs.resource.attributes}
        for scoped in rs.scope_spans:
            for span in scoped.spans:
                attrs = {a.key: value_of(a.value) for a in span.attributes}
                receiver.spans.append(Received(span, resource, attrs))


def _keep_metrics(receiver: Receiver, body: bytes) -> None:
    message = ExportMetricsServiceRequest()
    message.ParseFromString(body)
    for rm in message.resource_metrics:
        resource = {a.key: value_of(a.value) for a in rm.resource.attributes}
        found = {m.name: m for scoped in rm.scope_metrics for m in scoped.metrics}
        receiver.exports.append(Export(resource, found))


def attrs_of(point: Any) -> dict[str, Any]:
    """A data point's attributes, plain."""
    return {a.key: value_of(a.value) for a in point.attributes}


async def _body(request: web.Request) -> bytes:
    assert request.content_type == "application/x-protobuf"
    body = await request.read()
    if request.headers.get("content-encoding") == "gzip":
        body = gzip.decompress(body)
    return body


@asynccontextmanager
async def otlp_receiver() -> AsyncIterator[Receiver]:
    sock = listening_socket()
    receiver = Receiver(f"http://127.0.0.1:{port_of(sock)}")

    async def traces(request: web.Request) -> web.Response:
        _keep(receiver, await _body(request))
        answer = ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=answer, content_type="application/x-protobuf")

    async def metrics(request: web.Request) -> web.Response:
        if receiver.refuse_metrics:
            return web.Response(status=503, text="collector overloaded")
        _keep_metrics(receiver, await _body(request))
        answer = ExportMetricsServiceResponse().SerializeToString()
        return web.Response(body=answer, content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    app.router.add_post("/v1/metrics", metrics)
    runner = web.AppRunner(app)
    await runner.setup()
    await listen(runner, sock)
    try:
        yield receiver
    finally:
        await runner.cleanup()
