"""OpenTelemetry traces (issue 60), against a real OTLP/HTTP receiver decoding the protobuf the
gateway sends (tests/support/fakes/otlp_receiver.py): a metered call's span is the caller's
child and carries the ledger's debit; refusals and cut streams have theirs; tenant ids
appear only when listed; a dead collector costs no request."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import openai
import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from gateway.http.observability.tracer import PROBES
from tests.support.factories import Tenant, debits, eventual_debits, openai_client, tenant
from tests.support.fakes.otlp_receiver import Receiver, otlp_receiver
from tests.support.fakes.realtime import fake_realtime
from tests.support.harness import ADMIN_KEY, Gateway, free_port, running_gateway

MODEL = "gpt-4o-mini"
SECRET_PROMPT = "the launch code is swordfish"
TEXT = {"type": "input_text", "text": SECRET_PROMPT}
MESSAGES: Any = [{"role": "user", "content": SECRET_PROMPT}]
USAGE = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
OPERATOR = {"Authorization": f"Bearer {ADMIN_KEY}"}
FAST = {"OTEL_BSP_SCHEDULE_DELAY": "20", "OTEL_SERVICE_NAME": "meterway-test"}


def caller_context() -> tuple[str, str, str]:
    """A client span's ids, as the caller's SDK would send them."""
    trace_id, span_id = os.urandom(16).hex(), os.urandom(8).hex()
    return trace_id, span_id, f"00-{trace_id}-{span_id}-01"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with otlp_receiver() as r:
        yield r


@pytest.fixture
async def traced(dsn: str, receiver: Receiver) -> AsyncIterator[Gateway]:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, **FAST}
    async with running_gateway(dsn, None, **env) as gw:
        yield gw
        await gw.settle_all()


async def _chat(gw: Gateway, key: str, traceparent: str) -> Any:
    async with openai_client(gw, key) as client:
        return await client.chat.completions.with_raw_response.create(
            model=MODEL,
            messages=MESSAGES,
            max_tokens=600,
            extra_headers={"traceparent": traceparent, "tracestate": "vendor=abc"},
        )


async def _funded(gw: Gateway) -> Tenant:
    """A tenant with credit, its calls reporting USAGE."""
    gw.control.usage = USAGE
    return await tenant(gw, credit=1_000_000)


def _strings(attrs: dict[str, Any]) -> str:
    return " ".join(str(v) for v in attrs.values())


async def test_a_calls_span_is_the_callers_child_and_carries_the_ledgers_debit(
    traced: Gateway, receiver: Receiver
) -> None:
    gw = traced
    t = await _funded(gw)
    trace_id, parent_id, traceparent = caller_context()
    raw = await _chat(gw, t.key, traceparent)
    request_id = raw.headers["x-request-id"]
    assert raw.headers["x-meterway-trace-id"] == trace_id
    assert raw.headers["traceresponse"] == f"00-{trace_id}-{request_id[:16]}-01"
    (row,) = await debits(gw, t.account_id)
    got = await receiver.for_request(row["request_id"])
    span, a = got.span, got.attrs
    assert (span.trace_id.hex(), span.parent_span_id.hex()) == (trace_id, parent_id)
    assert span.span_id.hex() == request_id[:16] and span.trace_state == "vendor=abc"
    assert span.kind == Span.SPAN_KIND_SERVER and span.name == f"chat {MODEL}"
    assert 0 < span.start_time_unix_nano < span.end_time_unix_nano <= time.time_ns()
    cost = -int(row["amount_micros"])
    assert a["meterway.cost_micros"] == cost == int(raw.headers["x-meterway-cost-micros"])
    assert a["gen_ai.usage.cost.amount"] == cost / 1_000_000
    assert a["gen_ai.usage.cost.currency"] == "USD"
    assert a["meterway.price_version"] == row["price_version"] != ""
    assert a["gen_ai.usage.input_tokens"] == row["input_tokens"] == 1000
    assert a["gen_ai.usage.output_tokens"] == row["output_tokens"] == 500
    assert a["gen_ai.usage.cache_read.input_tokens"] == row["cached_input_tokens"]
    assert a["gen_ai.usage.reasoning.output_tokens"] == row["reasoning_tokens"]
    assert a["meterway.usage_source"] == "reported" and row["usage_source"] == "provider"
    assert a["meterway.billed"] is True and a["meterway.uncollected_micros"] == 0
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["meterway.held_micros"] > 0  # the worst case held for it (below: counted input)
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.model"] == a["gen_ai.response.model"] == row["model"] == MODEL
    assert a["gen_ai.provider.name"] == "openai"
    assert a["http.request.method"] == "POST" and a["http.response.status_code"] == 200
    assert a["http.route"] == "/v1/chat/completions"
    assert got.resource["service.name"] == "meterway-test"
    assert not [k for k in a if k.startswith(("meterway.account", "meterway.key"))]
    assert t.account_id not in _strings(a) and SECRET_PROMPT not in _strings(a)
    assert "traceparent" not in gw.control.last_request.headers  # off by default


async def test_a_provider_named_gets_the_gateway_span_as_its_parent(
    dsn: str, receiver: Receiver
) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "TRACE_FORWARD_PROVIDERS": "openai"}
    async with running_gateway(dsn, None, **env, **FAST) as gw:
        t = await tenant(gw, credit=1_000_000)
        trace_id, _, traceparent = caller_context()
        raw = await _chat(gw, t.key, traceparent)
        sent = gw.control.last_request.headers
        await gw.settle_all()
    gateway_span = raw.headers["x-request-id"][:16]
    assert sent["traceparent"] == f"00-{trace_id}-{gateway_span}-01"
    assert "tracestate" not in sent


async def test_a_refusal_has_its_span_and_its_traceresponse(
    traced: Gateway, receiver: Receiver
) -> None:
    gw = traced
    for probe in ("/healthz", "/readyz"):  # answered with trace headers, never exported
        async with gw.http.get(gw.url + probe) as r:
            assert r.headers["traceresponse"].startswith("00-")
    t = await tenant(gw, credit=0)
    trace_id, parent_id, traceparent = caller_context()
    with pytest.raises(openai.APIStatusError) as refused:
        await _chat(gw, t.key, traceparent)
    answer = refused.value.response
    assert answer.status_code == 402
    request_id = answer.headers["x-request-id"]
    assert answer.headers["traceresponse"] == f"00-{trace_id}-{request_id[:16]}-01"
    got = await receiver.for_request(request_id)
    assert (got.span.trace_id.hex(), got.span.parent_span_id.hex()) == (trace_id, parent_id)
    assert got.attrs["http.response.status_code"] == 402
    assert got.attrs["error.type"] == refused.value.body["type"]  # type: ignore[index]
    assert got.attrs["meterway.billed"] is False
    assert "meterway.cost_micros" not in got.attrs
    assert got.span.status.code == 0  # a 4xx is the client's, not the server span's error
    assert not [s for s in receiver.spans if s.attrs.get("http.route") in PROBES]


async def test_without_a_callers_context_the_trace_is_the_request_id(
    traced: Gateway, receiver: Receiver
) -> None:
    gw = traced
    t = await tenant(gw, credit=1_000_000)
    async with openai_client(gw, t.key) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model=MODEL, messages=MESSAGES, max_tokens=10
        )
    request_id = raw.headers["x-request-id"]
    assert raw.headers["traceresponse"] == f"00-{request_id}-{request_id[:16]}-01"
    got = await receiver.for_request(request_id)
    assert got.span.trace_id.hex() == request_id and got.span.parent_span_id == b""


async def test_a_stream_the_client_cut_has_the_span_of_its_debit(
    traced: Gateway, receiver: Receiver
) -> None:
    gw = traced
    t = await _funded(gw)
    gw.control.chunks = 6
    gw.control.chunk_delay_s = 0.2
    trace_id, _, traceparent = caller_context()
    body = {"model": MODEL, "messages": MESSAGES, "stream": True, "max_tokens": 600}
    headers = {"Authorization": f"Bearer {t.key}", "traceparent": traceparent}
    resp = await gw.http.post(gw.url + "/v1/chat/completions", json=body, headers=headers)
    assert resp.headers["x-meterway-trace-id"] == trace_id
    request_id = resp.headers["x-request-id"]
    await resp.content.readany()
    resp.close()
    (row,) = await eventual_debits(gw, t.account_id)
    got = await receiver.for_request(request_id)
    assert got.attrs["meterway.cost_micros"] == -int(row["amount_micros"]) > 0
    assert got.attrs["meterway.billed"] is True
    assert got.attrs["gen_ai.usage.output_tokens"] == row["output_tokens"] == 500


async def test_tenant_ids_appear_only_as_the_operator_listed(dsn: str, receiver: Receiver) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "TRACE_TENANT_ATTRIBUTES": "account,plan"}
    async with running_gateway(dsn, None, **env, **FAST) as gw:
        t = await tenant(gw, credit=1_000_000)
        async with openai_client(gw, t.key) as client:
            raw = await client.chat.completions.with_raw_response.create(
                model=MODEL, messages=MESSAGES, max_tokens=10, user="end-user-7"
            )
        got = await receiver.for_request(raw.headers["x-request-id"])
        await gw.settle_all()
    assert got.attrs["meterway.account.id"] == t.account_id
    assert got.attrs["meterway.plan.id"] == "pro"
    assert "meterway.key.id" not in got.attrs and "meterway.end_user.id" not in got.attrs
    assert t.key_id not in _strings(got.attrs) and "end-user-7" not in _strings(got.attrs)


async def five_calls(gw: Gateway, within_s: float) -> None:
    """Five calls, each answered 200 within `within_s`."""
    t = await tenant(gw, credit=1_000_000)
    async with openai_client(gw, t.key) as client:
        for _ in range(5):
            started = time.perf_counter()
            raw = await client.chat.completions.with_raw_response.create(
                model=MODEL, messages=MESSAGES, max_tokens=10
            )
            assert raw.http_response.status_code == 200
            assert time.perf_counter() - started < within_s


@contextlib.asynccontextmanager
async def silent_collector() -> AsyncIterator[str]:
    """A collector that takes the connection and the request and never answers."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(-1)  # until the exporter gives up and closes
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()


async def test_a_dead_collector_costs_no_request(dsn: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": dead, "OTEL_EXPORTER_OTLP_TIMEOUT": "500", **FAST}
    async with running_gateway(dsn, None, **env) as gw:
        await five_calls(gw, within_s=30)
        detail = await readyz_once(gw, lambda d: d["traces"]["dropped"] >= 5)
        assert detail["status"] == "ready"
        assert "unreachable" in detail["traces"]["last_error"]
        async with gw.http.get(gw.url + "/metrics", headers=OPERATOR) as r:
            text = await r.text()
        assert 'meterway_trace_spans_dropped_total{reason="export_failed"}' in text
        await gw.settle_all()


async def test_a_collector_that_never_answers_keeps_no_request_waiting(dsn: str) -> None:
    """The exporter waits 8 s for the collector; a call that waited for its span's export
    would take that long, and each takes under half of it."""
    async with silent_collector() as url:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": url, "OTEL_EXPORTER_OTLP_TIMEOUT": "8000", **FAST}
        async with running_gateway(dsn, None, **env) as gw:
            await five_calls(gw, within_s=4)
            await gw.settle_all()


async def readyz_once(gw: Gateway, until: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """/readyz's operator view, once `until` holds of it."""
    async with asyncio.timeout(10):
        while True:
            async with gw.http.get(gw.url + "/readyz", headers=OPERATOR) as r:
                detail = dict(await r.json())
            if until(detail):
                return detail
            await asyncio.sleep(0.05)


async def test_a_realtime_turn_is_debited_and_has_the_span_of_its_debit(
    dsn: str, receiver: Receiver
) -> None:
    """A turn's debit is `<request id>.<n>`, settled with no request of its own open."""
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, **FAST}
    async with (
        fake_realtime() as (url, _),
        running_gateway(dsn, None, OPENAI_BASE_URL=url, **env) as gw,
    ):
        t = await tenant(gw, credit=10_000_000)
        words = {"type": "message", "role": "user", "content": [TEXT]}
        async with (
            openai_client(gw, t.key) as client,
            client.realtime.connect(model="gpt-realtime") as conn,
        ):
            await conn.session.update(session={"type": "realtime"})
            await conn.conversation.item.create(item=words)  # type: ignore[arg-type]
            await conn.response.create()
            async for event in conn:
                if event.type == "response.done":
                    break
        (row,) = await debits(gw, t.account_id)
        got = await receiver.for_request(row["request_id"])
    assert "." in row["request_id"]
    session = row["request_id"].partition(".")[0]  # the WebSocket request's: the turn's parent
    assert (got.span.trace_id.hex(), got.span.parent_span_id.hex()) == (session, session[:16])
    assert got.attrs["meterway.cost_micros"] == -int(row["amount_micros"]) > 0
    assert got.attrs["meterway.price_version"] == row["price_version"]
    assert got.attrs["meterway.billed"] is True and SECRET_PROMPT not in _strings(got.attrs)
