"""OTLP metrics without a server: the OTEL_* variables as the SDK reads them for metrics, the
bytes decoded by opentelemetry-proto's own classes, delta temporality sending what changed
since the last export, and the recorder finding an uncollected part's call in either order."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, Metric

from billing.metering.usage import Usage
from billing.money.admission import Admitted
from gateway.config.traces import MetricSettings, metric_settings
from gateway.config.values import ConfigError
from gateway.http.observability.call_metrics import CallMetrics
from gateway.outbound.otlp_metrics import Totals, encode
from gateway.stores.records import Settlement
from tests.support.fakes.otlp_receiver import attrs_of

URL = "http://collector:4318"
GROUP = ("gpt-4o-mini", "openai", "pro", "billed")


def settings_of(**env: str) -> MetricSettings:
    return metric_settings(lambda name, default=None: env.get(name, default))


def test_the_standard_variables_name_the_metrics_endpoint() -> None:
    s = settings_of(OTEL_EXPORTER_OTLP_ENDPOINT=URL + "/", OTEL_METRIC_EXPORT_INTERVAL="15000")
    assert s.endpoint == URL + "/v1/metrics" and s.interval_s == 15.0 and not s.delta
    own = settings_of(
        OTEL_EXPORTER_OTLP_ENDPOINT=URL,
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT="https://intake.example/otlp/v1/metrics",
        OTEL_EXPORTER_OTLP_METRICS_HEADERS="dd-api-key=s%3Dcret",
        OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE="delta",
    )
    assert own.endpoint == "https://intake.example/otlp/v1/metrics" and own.delta
    assert own.headers == (("dd-api-key", "s=cret"),)
    assert not settings_of().enabled
    assert not settings_of(OTEL_EXPORTER_OTLP_ENDPOINT=URL, OTEL_METRICS_EXPORTER="none").enabled
    prometheus = settings_of(OTEL_EXPORTER_OTLP_ENDPOINT=URL, OTEL_METRICS_EXPORTER="prometheus")
    assert not prometheus.enabled  # /metrics is Prometheus's anyway
    assert not settings_of(OTEL_EXPORTER_OTLP_ENDPOINT=URL, OTEL_SDK_DISABLED="true").enabled


@pytest.mark.parametrize(
    "env, named",
    [
        ({"OTEL_METRICS_EXPORTER": "console"}, "OTEL_METRICS_EXPORTER"),
        ({"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc"}, "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"),
        (
            {"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "lowmemory"},
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
        ),
        ({"OTEL_METRIC_EXPORT_INTERVAL": "0"}, "OTEL_METRIC_EXPORT_INTERVAL"),
    ],
)
def test_a_metrics_setting_it_cannot_honour_fails_the_boot_by_name(
    env: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        settings_of(OTEL_EXPORTER_OTLP_ENDPOINT=URL, **env)


def _decoded(body: bytes) -> dict[str, Metric]:
    message = ExportMetricsServiceRequest()
    message.ParseFromString(body)
    (rm,) = message.resource_metrics
    return {m.name: m for scoped in rm.scope_metrics for m in scoped.metrics}


def test_delta_sends_what_changed_since_the_last_export() -> None:
    s = MetricSettings(endpoint=URL, delta=True)
    totals = Totals()
    totals.charge(GROUP, 1500, (1000, 500, 0, 0, 0))
    totals.time("gpt-4o-mini", "answered", 0.0007)
    sent = totals.copy()
    totals.charge(GROUP, 250, (100, 50, 0, 0, 0))
    totals.time("gpt-4o-mini", "answered", 3.0)  # above every bound: the +Inf bucket
    m = _decoded(encode(totals, sent, 10, 20, s))
    (cost,) = m["meterway.cost"].sum.data_points
    assert (cost.as_int, cost.start_time_unix_nano, cost.time_unix_nano) == (250, 10, 20)
    assert m["meterway.cost"].sum.aggregation_temporality == AggregationTemporality.Value(
        "AGGREGATION_TEMPORALITY_DELTA"
    )
    points = m["meterway.tokens"].sum.data_points
    tokens = {attrs_of(p)["gen_ai.token.type"]: p.as_int for p in points}
    assert tokens == {"input": 100, "output": 50}  # kinds never seen send no zeros
    (timed,) = m["meterway.gateway.duration"].histogram.data_points
    assert timed.count == 1 and timed.sum == 3.0 and timed.bucket_counts[-1] == 1
    whole = _decoded(encode(totals, Totals(), 10, 20, MetricSettings(endpoint=URL)))
    assert [p.as_int for p in whole["meterway.cost"].sum.data_points] == [1750]
    (both,) = whole["meterway.gateway.duration"].histogram.data_points
    assert both.count == 2 and both.bucket_counts[1] == 1  # 0.7 ms: the 1 ms bucket


def _settled(rid: str, cost: int) -> tuple[Admitted, Settlement]:
    admitted = Admitted(rid, "acct", "key", 0, 500, 0, None, None, "pro")
    return admitted, Settlement("gpt-4o-mini", "openai", Usage(input_tokens=10), cost)


@pytest.mark.parametrize("told_first", [True, False])
def test_an_uncollected_part_finds_its_call_whichever_comes_first(told_first: bool) -> None:
    calls = CallMetrics(MetricSettings(endpoint=URL))
    if told_first:  # settle.lua answered in time: its hook ran inside the debit
        calls.uncollected("r1", 40)
    calls.charged(*_settled("r1", 100), True)
    calls.charged(*_settled("r2", 7), True)
    if not told_first:  # the debit was retried: told after the meter's hook
        calls.uncollected("r1", 40)
    totals = Totals()
    calls.fold(totals)
    assert totals.charged == {GROUP: [107, 40, 20, 0, 0, 0, 0]} and not calls.queue
