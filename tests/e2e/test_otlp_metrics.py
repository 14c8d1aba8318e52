"""OpenTelemetry metrics over OTLP (issue 60), against the real OTLP/HTTP receiver decoding the
ExportMetricsServiceRequest the gateway sends: the token and cost counters add up to the
ledger's rows to the micro and the token, carry only the bounded attributes, the gateway's
time counts one observation per call, and a dead collector costs no request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, Metric

from tests.e2e.test_trace_spans import OVER, _uncollected
from tests.e2e.test_traces import (
    MESSAGES,
    MODEL,
    OPERATOR,
    five_calls,
    readyz_once,
    silent_collector,
)
from tests.support.factories import debits, openai_client, tenant
from tests.support.fakes.otlp_receiver import Receiver, attrs_of, otlp_receiver
from tests.support.harness import Gateway, free_port, running_gateway

# Metrics only (no traces), exported every 50 ms.
METRICS = {
    "OTEL_TRACES_EXPORTER": "none",
    "OTEL_METRIC_EXPORT_INTERVAL": "50",
    "OTEL_SERVICE_NAME": "meterway-test",
}
USAGES: list[dict[str, Any]] = [
    {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500},
    {
        "prompt_tokens": 3000,
        "completion_tokens": 700,
        "total_tokens": 3700,
        "prompt_tokens_details": {"cached_tokens": 2048},
        "completion_tokens_details": {"reasoning_tokens": 400},
    },
    {"prompt_tokens": 17, "completion_tokens": 3, "total_tokens": 20},
]
PROVIDER_S = 0.3
GROUP = {"gen_ai.response.model", "gen_ai.provider.name", "meterway.plan", "meterway.outcome"}
KINDS = {
    "input": "input_tokens",
    "output": "output_tokens",
    "cache_read": "cached_input_tokens",
    "cache_creation": "cache_write_tokens",
    "reasoning": "reasoning_tokens",
}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with otlp_receiver() as r:
        yield r


async def _chat(gw: Gateway, key: str, stream: bool = False, max_tokens: int = 800) -> None:
    async with openai_client(gw, key) as client:
        if not stream:
            await client.chat.completions.create(
                model=MODEL, messages=MESSAGES, max_tokens=max_tokens
            )
            return
        chunks = await client.chat.completions.create(
            model=MODEL, messages=MESSAGES, max_tokens=max_tokens, stream=True
        )
        async for _ in chunks:
            pass


async def _settled_export(receiver: Receiver, cost: int, calls: int) -> dict[str, Metric]:
    """The first export (cumulative: each holds every total so far) whose cost and count of
    timed calls reached what the ledger holds."""
    async with asyncio.timeout(10):
        while True:
            for export in reversed(receiver.exports):
                m = export.metrics
                if "meterway.cost" not in m or "meterway.gateway.duration" not in m:
                    continue
                got = sum(p.as_int for p in m["meterway.cost"].sum.data_points)
                timed = sum(p.count for p in m["meterway.gateway.duration"].histogram.data_points)
                if got >= cost and timed >= calls:
                    assert export.resource["service.name"] == "meterway-test"
                    return m
            await asyncio.sleep(0.02)


def _total(metric: Metric, **where: str) -> int:
    return sum(
        p.as_int
        for p in metric.sum.data_points
        if all(attrs_of(p).get(k) == v for k, v in where.items())
    )


async def test_the_counters_add_up_to_the_ledger_with_bounded_attributes(
    dsn: str, receiver: Receiver
) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, **METRICS}
    async with running_gateway(dsn, None, **env) as gw:
        t = await tenant(gw, credit=50_000_000)
        gw.control.delay_s = PROVIDER_S
        for usage in USAGES:
            gw.control.usage = usage
            await _chat(gw, t.key)
        gw.control.usage = USAGES[0]
        await _chat(gw, t.key, stream=True)
        poor = await tenant(gw, credit=100, plan="starter")  # cannot pay all of its call
        gw.control.usage = OVER
        await _chat(gw, poor.key, max_tokens=100)
        paid, (short,) = await debits(gw, t.account_id), await debits(gw, poor.account_id)
        rows = [*paid, short]
        owed = await _uncollected(gw, short["request_id"])
        debited = -sum(int(r["amount_micros"]) for r in rows)
        m = await _settled_export(receiver, debited + owed, len(rows))
        await gw.settle_all()
    assert len(rows) == 5 and owed > 0
    cost, uncollected = m["meterway.cost"], m["meterway.uncollected"]
    assert _total(cost) - _total(uncollected) == debited  # the ledger's debits, to the micro
    assert _total(uncollected) == owed == _total(uncollected, **{"meterway.plan": "starter"})
    assert _total(cost, **{"meterway.plan": "pro"}) == -sum(int(r["amount_micros"]) for r in paid)
    tokens = m["meterway.tokens"]
    for kind, column in KINDS.items():
        assert _total(tokens, **{"gen_ai.token.type": kind}) == sum(r[column] for r in rows)
    assert _total(tokens, **{"gen_ai.token.type": "reasoning"}) == 400
    assert _total(tokens, **{"gen_ai.token.type": "cache_read"}) == 2048
    for metric in (cost, uncollected, tokens):
        assert metric.sum.is_monotonic
        assert metric.sum.aggregation_temporality == AggregationTemporality.Value(
            "AGGREGATION_TEMPORALITY_CUMULATIVE"
        )
        for point in metric.sum.data_points:
            a = attrs_of(point)
            assert set(a) - {"gen_ai.token.type"} == GROUP
            assert a["meterway.outcome"] == "billed" and a["gen_ai.response.model"] == MODEL
            assert a["gen_ai.provider.name"] == "openai"
            assert a["meterway.plan"] in ("pro", "starter")
    timed = m["meterway.gateway.duration"]
    assert timed.unit == "s"
    points = list(timed.histogram.data_points)
    assert sum(p.count for p in points) == len(rows)  # one observation per call
    for p in points:
        assert set(attrs_of(p)) == {"gen_ai.request.model", "meterway.outcome"}
        assert attrs_of(p)["meterway.outcome"] == "answered"
        assert sum(p.bucket_counts) == p.count
        assert len(p.bucket_counts) == len(p.explicit_bounds) + 1
    # The provider took PROVIDER_S a call: the gateway's own time leaves it out.
    assert 0 < sum(p.sum for p in points) < PROVIDER_S * len(rows) / 2
    words = str(m)
    for secret in (t.account_id, poor.account_id, t.key_id, rows[0]["request_id"]):
        assert secret not in words


async def test_a_dead_metrics_collector_costs_no_request(dsn: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": dead, "OTEL_EXPORTER_OTLP_TIMEOUT": "500", **METRICS}
    async with running_gateway(dsn, None, **env) as gw:
        await five_calls(gw, within_s=30)
        detail = await readyz_once(gw, lambda d: d["metrics"]["failed"] >= 2)
        assert detail["status"] == "ready" and "traces" not in detail
        assert "unreachable" in detail["metrics"]["last_error"]
        async with gw.http.get(gw.url + "/metrics", headers=OPERATOR) as r:
            text = await r.text()
        assert 'meterway_otlp_metric_exports_failed_total{reason="export_failed"}' in text
        await gw.settle_all()


async def test_an_export_the_collector_refused_is_carried_by_the_next(
    dsn: str, receiver: Receiver
) -> None:
    """Cumulative: what a refused export held is in the next one the collector takes."""
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, **METRICS}
    receiver.refuse_metrics = True
    async with running_gateway(dsn, None, **env) as gw:
        t = await tenant(gw, credit=1_000_000)
        await _chat(gw, t.key)
        (row,) = await debits(gw, t.account_id)
        await asyncio.sleep(0.2)  # a few exports refused
        assert receiver.exports == []
        receiver.refuse_metrics = False
        m = await _settled_export(receiver, -int(row["amount_micros"]), 1)
        await gw.settle_all()
    assert _total(m["meterway.cost"]) == -int(row["amount_micros"])


async def test_a_metrics_collector_that_never_answers_keeps_no_request_waiting(dsn: str) -> None:
    """The exporter waits 8 s for the collector; each call takes under half of it."""
    async with silent_collector() as url:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": url, "OTEL_EXPORTER_OTLP_TIMEOUT": "8000", **METRICS}
        async with running_gateway(dsn, None, **env) as gw:
            await five_calls(gw, within_s=4)
            await gw.settle_all()
