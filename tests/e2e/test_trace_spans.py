"""Spans beyond a plain call (issue 60), against the real OTLP/HTTP receiver: the part of a
debit not collected against the operator's receivable, a fallback chain as a child span per
attempt (only the one that served billed), B3 context in and out, an MCP tool call, a
metering batch's events, and a plain answer's finish reasons."""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from google import genai
from google.genai import types
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from gateway.devtools.demo_upstream import UpstreamControl, start_upstream
from gateway.http.appkeys import UPSTREAMS
from tests.e2e.test_batches import _batch, jsonl
from tests.e2e.test_bedrock import AWS_ENV, BEDROCK_PROVIDER
from tests.e2e.test_bedrock import PRICING as BEDROCK_PRICING
from tests.e2e.test_gemini import CONFIG
from tests.e2e.test_gemini import PRICING as GEMINI_PRICING
from tests.e2e.test_gemini import PROVIDERS as GOOGLE_PROVIDERS
from tests.e2e.test_mcp import session
from tests.e2e.test_traces import FAST, MESSAGES, MODEL
from tests.support.factories import anthropic_client, debits, openai_client, tenant
from tests.support.fakes.mcp_tools import mcp_config, running_tools
from tests.support.fakes.otlp_receiver import Receiver, otlp_receiver, value_of
from tests.support.harness import (
    Gateway,
    config_dir_with,
    gateway_with_providers,
    running_gateway,
)
from tests.support.metering_client import event, service
from tests.unit.test_deployments import pooled_model

# gpt-4o-mini with max_tokens=100 holds ~62 micros; 5,000 reported input tokens (inside the
# charge cap) cost ~756: an account holding 100 cannot pay it all.
OVER = {"prompt_tokens": 5_000, "completion_tokens": 10, "total_tokens": 5_010}
USAGE = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with otlp_receiver() as r:
        yield r


def _env(receiver: Receiver, **more: str) -> dict[str, str]:
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, **FAST, **more}


async def _uncollected(gw: Gateway, request_id: str) -> int:
    return int(
        await gw.stores().pool.fetchval(
            "SELECT coalesce(sum(amount_micros), 0) FROM uncollected_debits WHERE request_id = $1",
            request_id,
        )
    )


async def test_the_part_not_collected_is_on_the_span_as_the_receivable_says(
    dsn: str, receiver: Receiver
) -> None:
    async with running_gateway(dsn, None, **_env(receiver)) as gw:
        t = await tenant(gw, credit=100)
        gw.control.usage = OVER
        async with openai_client(gw, t.key) as client:
            raw = await client.chat.completions.with_raw_response.create(
                model=MODEL, messages=MESSAGES, max_tokens=100
            )
        (row,) = await debits(gw, t.account_id)
        owed = await _uncollected(gw, row["request_id"])
        got = await receiver.for_request(raw.headers["x-request-id"])
    a = got.attrs
    assert owed > 0 and a["meterway.uncollected_micros"] == owed
    assert a["meterway.cost_micros"] == -int(row["amount_micros"]) == 100
    assert a["gen_ai.usage.cost.amount"] == 100 / 1_000_000
    assert a["gen_ai.usage.input_tokens"] == row["input_tokens"] == 5_000
    assert a["meterway.billed"] is True


async def test_a_fallback_chain_has_a_child_span_per_attempt(
    dsn: str, receiver: Receiver, tmp_path: Path
) -> None:
    # Not test_fallback's east and west: /metrics' counters are the process's, and that test
    # counts its own upstreams' failures.
    config_dir_with(tmp_path, pricing=pooled_model("east2", "west2", 1_000_000))
    east = await start_upstream(control=UpstreamControl())
    async with await start_upstream(control=UpstreamControl()) as west:
        config = tmp_path / "meterway.toml"
        config.write_text(
            f'[providers.east2]\nbase_url = "{east.url}/v1"\ncatalogue = ""\n'
            f'[providers.west2]\nbase_url = "{west.url}/v1"\ncatalogue = ""\n'
        )
        env = _env(receiver, MW_CONFIG_DIR=str(tmp_path))
        try:
            async with running_gateway(dsn, config, **env) as gw:
                gw.app[UPSTREAMS].rng = random.Random(36)  # east2 weighs 1,000,000 to 1: first
                east.control.usage = west.control.usage = USAGE
                east.control.status = 429
                t = await tenant(gw, credit=1_000_000)
                async with openai_client(gw, t.key) as client:
                    raw = await client.chat.completions.with_raw_response.create(
                        model="pooled", messages=MESSAGES, max_tokens=600
                    )
                (row,) = await debits(gw, t.account_id)
                rid = raw.headers["x-request-id"]
                server = await receiver.for_request(rid)
                tries = await _attempts(receiver, rid, 2)
        finally:
            await east.close()
    assert (east.control.hits, west.control.hits) == (1, 1)
    assert server.attrs["meterway.cost_micros"] == -int(row["amount_micros"])
    assert server.attrs["gen_ai.provider.name"] == row["provider"] == "west2"
    first, second = tries
    for child in tries:
        assert child.span.trace_id == server.span.trace_id
        assert child.span.parent_span_id == server.span.span_id
        assert child.span.kind == Span.SPAN_KIND_CLIENT
    assert first.attrs["gen_ai.provider.name"] == "east2" and first.attrs["meterway.attempt"] == 1
    assert first.attrs["meterway.attempt.outcome"] == "429" and first.attrs["error.type"] == "429"
    assert first.attrs["meterway.billed"] is False and first.span.status.code == 2
    assert second.attrs["gen_ai.provider.name"] == "west2"
    assert second.attrs["meterway.attempt.outcome"] == "200"
    assert second.attrs["meterway.billed"] is True and second.span.status.code == 0
    assert first.span.end_time_unix_nano <= second.span.start_time_unix_nano


async def _attempts(receiver: Receiver, request_id: str, n: int) -> list[Any]:
    """The request's attempt spans, in order, once all n arrived."""

    def one(k: int) -> Any:
        return lambda s: (
            s.attrs.get("meterway.request_id") == request_id
            and s.attrs.get("meterway.attempt") == k
        )

    return [await receiver.span(one(k)) for k in range(1, n + 1)]


@pytest.mark.parametrize("form", ["b3", "b3multi"])
async def test_b3_makes_the_gateway_span_a_child_and_is_forwarded(
    dsn: str, receiver: Receiver, form: str
) -> None:
    trace_id, parent_id = os.urandom(16).hex(), os.urandom(8).hex()
    sent_headers = (
        {"b3": f"{trace_id}-{parent_id}-1"}
        if form == "b3"
        else {"X-B3-TraceId": trace_id, "X-B3-SpanId": parent_id, "X-B3-Sampled": "1"}
    )
    env = _env(receiver, OTEL_PROPAGATORS=f"tracecontext,{form}", TRACE_FORWARD_PROVIDERS="openai")
    async with running_gateway(dsn, None, **env) as gw:
        t = await tenant(gw, credit=1_000_000)
        async with openai_client(gw, t.key) as client:
            raw = await client.chat.completions.with_raw_response.create(
                model=MODEL, messages=MESSAGES, max_tokens=10, extra_headers=sent_headers
            )
        forwarded = gw.control.last_request.headers
        rid = raw.headers["x-request-id"]
        got = await receiver.for_request(rid)
        await gw.settle_all()
    assert (got.span.trace_id.hex(), got.span.parent_span_id.hex()) == (trace_id, parent_id)
    assert raw.headers["traceresponse"] == f"00-{trace_id}-{rid[:16]}-01"
    assert forwarded["traceparent"] == f"00-{trace_id}-{rid[:16]}-01"
    if form == "b3":
        assert forwarded["b3"] == f"{trace_id}-{rid[:16]}-1"
    else:
        assert forwarded["x-b3-traceid"] == trace_id and forwarded["x-b3-spanid"] == rid[:16]
        assert forwarded["x-b3-sampled"] == "1"


async def test_b3_is_not_read_unless_configured(
    traced_default: Gateway, receiver: Receiver
) -> None:
    gw = traced_default
    t = await tenant(gw, credit=1_000_000)
    b3 = {"b3": f"{os.urandom(16).hex()}-{os.urandom(8).hex()}-1"}
    async with openai_client(gw, t.key) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model=MODEL, messages=MESSAGES, max_tokens=10, extra_headers=b3
        )
    rid = raw.headers["x-request-id"]
    got = await receiver.for_request(rid)
    assert got.span.trace_id.hex() == rid and got.span.parent_span_id == b""


@pytest.fixture
async def traced_default(dsn: str, receiver: Receiver) -> AsyncIterator[Gateway]:
    async with running_gateway(dsn, None, **_env(receiver)) as gw:
        yield gw
        await gw.settle_all()


async def test_a_plain_answer_says_why_it_finished(
    traced_default: Gateway, receiver: Receiver
) -> None:
    gw = traced_default
    t = await tenant(gw, credit=1_000_000)
    async with openai_client(gw, t.key) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model=MODEL, messages=MESSAGES, max_tokens=10
        )
    got = await receiver.for_request(raw.headers["x-request-id"])
    assert got.attrs["gen_ai.response.finish_reasons"] == (raw.parse().choices[0].finish_reason,)
    assert got.attrs["meterway.uncollected_micros"] == 0


async def test_an_mcp_tool_call_has_its_span_with_the_ledgers_debit(
    dsn: str, receiver: Receiver, tmp_path: Path
) -> None:
    async with running_tools() as tools:
        config = tmp_path / "meterway.toml"
        config.write_text(mcp_config(tools.url))
        async with running_gateway(dsn, config, **_env(receiver)) as gw:
            t = await tenant(gw, credit=1_000_000, scopes=["mcp"])
            async with session(gw, t.key) as client:
                result = await client.call_tool("search", {"query": "q"})
                assert not result.is_error
            (row,) = await debits(gw, t.account_id)
            got = await receiver.for_request(row["request_id"])
    a = got.attrs
    assert a["gen_ai.operation.name"] == "execute_tool" and a["http.route"] == "/mcp/{server}"
    assert a["meterway.cost_micros"] == -int(row["amount_micros"]) == 2000
    assert a["gen_ai.response.model"] == row["model"] == "mcp:tools/search"
    assert a["gen_ai.provider.name"] == row["provider"] == "mcp:tools"
    assert a["meterway.billed"] is True and got.span.kind == Span.SPAN_KIND_SERVER


async def test_a_metering_batch_has_a_span_event_per_event(
    traced_default: Gateway, receiver: Receiver
) -> None:
    gw = traced_default
    t = await tenant(gw, credit=1_000_000)
    svc = await service(gw, "gpu_seconds")
    status, body = await svc.events(
        [
            event(t.account_id, "gpu_seconds", 10, "e1"),
            event(t.account_id, "gpu_seconds", 3, "e2"),
            event(t.account_id, "nope", 1, "e3"),  # a meter the service may not charge
        ]
    )
    assert status == 200, body
    got = await receiver.span(lambda s: s.attrs.get("http.route") == "/v1/metering/events")
    events = [(e.name, {a.key: a.value for a in e.attributes}) for e in got.span.events]
    assert [n for n, _ in events] == ["meterway.metering_event"] * 3
    outcomes = [
        (a["meterway.event.status"].string_value, a["meterway.cost_micros"].int_value)
        for _, a in events
    ]
    assert outcomes == [(r["status"], r["cost_micros"]) for r in body["data"]]
    assert events[0][1]["meterway.quantity"].int_value == 10
    assert "error.type" in events[2][1] and t.account_id not in str(got.span)
    assert got.attrs["gen_ai.operation.name"] == "metering"


async def test_a_stream_says_why_it_finished_as_its_events_did(
    traced_default: Gateway, receiver: Receiver
) -> None:
    """Chat's last choice chunk, Anthropic's message_delta, a Response's terminal event."""
    gw = traced_default
    t = await tenant(gw, credit=1_000_000)
    async with openai_client(gw, t.key) as client:
        chunks = await client.chat.completions.with_raw_response.create(
            model=MODEL, messages=MESSAGES, max_tokens=10, stream=True
        )
        said = [c.choices[0].finish_reason async for c in chunks.parse() if c.choices]
        events = await client.responses.with_raw_response.create(
            model=MODEL, input="Say why", stream=True
        )
        terminal = [e async for e in events.parse()][-1]
    async with (
        anthropic_client(gw, t.key) as claude,
        claude.messages.stream(model="claude-haiku-4-5", max_tokens=60, messages=MESSAGES) as s,
    ):
        message = await s.get_final_message()
        anthropic_id = s.response.headers["x-request-id"]
    chat = await receiver.for_request(chunks.headers["x-request-id"])
    assert chat.attrs["gen_ai.response.finish_reasons"] == tuple(r for r in said if r) != ()
    response = await receiver.for_request(events.headers["x-request-id"])
    assert terminal.type == "response.completed"
    assert response.attrs["gen_ai.response.finish_reasons"] == ("completed",)
    claude_span = await receiver.for_request(anthropic_id)
    assert message.stop_reason
    assert claude_span.attrs["gen_ai.response.finish_reasons"] == (message.stop_reason,)


async def test_gemini_and_bedrock_streams_say_why_they_finished(
    dsn: str, tmp_path: Path, receiver: Receiver
) -> None:
    """Gemini's last event's finishReason (its own word, as a plain answer's span says it);
    a Converse stream's messageStop, in the OpenAI word its client's last chunk carried."""
    providers = GOOGLE_PROVIDERS + BEDROCK_PROVIDER
    with pytest.MonkeyPatch.context() as aws:
        for name, value in AWS_ENV.items():
            aws.setenv(name, value)
        async with gateway_with_providers(
            dsn, tmp_path, GEMINI_PRICING + BEDROCK_PRICING, providers, **_env(receiver)
        ) as (gw, fake):
            fake.control.usage = {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15}
            t = await tenant(gw, credit=1_000_000)
            async with openai_client(gw, t.key) as client:
                chunks = await client.chat.completions.with_raw_response.create(
                    model="nova-bedrock", messages=MESSAGES, max_tokens=60, stream=True
                )
                said = [c.choices[0].finish_reason async for c in chunks.parse() if c.choices]
            fake.control.usage = {"promptTokenCount": 10, "candidatesTokenCount": 5}
            google = genai.Client(api_key=t.key, http_options=types.HttpOptions(base_url=gw.url))
            stream = await google.aio.models.generate_content_stream(
                model="gemini-pro", contents="Say why", config=CONFIG
            )
            events = [chunk async for chunk in stream]
            finish = events[-1].candidates[0].finish_reason if events[-1].candidates else None
            bedrock_id = chunks.headers["x-request-id"]
            await gw.settle_all()
            rows = await debits(gw, t.account_id)
            [gemini_id] = [r["request_id"] for r in rows if r["request_id"] != bedrock_id]
    bedrock_span = await receiver.for_request(bedrock_id)
    assert bedrock_span.attrs["gen_ai.response.finish_reasons"] == tuple(r for r in said if r)
    assert said[-1] == "stop"
    gemini_span = await receiver.for_request(gemini_id)
    assert finish is not None and finish.value == "STOP"
    assert gemini_span.attrs["gen_ai.response.finish_reasons"] == ("STOP",)


async def test_a_batch_has_a_span_event_per_billed_line_adding_up_to_its_debit(
    traced_default: Gateway, receiver: Receiver
) -> None:
    gw = traced_default
    t = await tenant(gw, credit=10_000_000)
    async with openai_client(gw, t.key) as client:
        _, batch_id = await _batch(client, jsonl("a", "b", "fail-c", "d"))
        done = await client.batches.retrieve(batch_id)  # seen ended: settled now
        assert done.output_file_id
        output = (await client.files.content(done.output_file_id)).content
    (row,) = await debits(gw, t.account_id)
    got = await receiver.span(  # the debit's span, not the batch's creating request's
        lambda s: (
            s.attrs.get("meterway.request_id") == row["request_id"]
            and s.span.kind == Span.SPAN_KIND_INTERNAL
        )
    )
    events = [{a.key: value_of(a.value) for a in e.attributes} for e in got.span.events]
    assert [e.name for e in got.span.events] == ["meterway.batch_line"] * 3  # not fail-c
    downloaded = [orjson.loads(line) for line in output.splitlines()]
    for e in events:  # each line's share as the output file the client downloads says it
        usage = downloaded[e["meterway.batch.line"]]["response"]["body"]["usage"]
        assert e["meterway.cost_micros"] == usage["cost_micros"]
        assert e["gen_ai.usage.output_tokens"] == usage["completion_tokens"]
    assert sum(e["meterway.cost_micros"] for e in events) == -int(row["amount_micros"]) > 0
    for kind, column in (("input", "input_tokens"), ("output", "output_tokens")):
        assert sum(e[f"gen_ai.usage.{kind}_tokens"] for e in events) == row[column] > 0
    assert got.attrs["meterway.cost_micros"] == -int(row["amount_micros"])
