"""Trace context and trace settings without a server: W3C `traceparent` read as the spec
says (a bad one starts a new trace), the OTEL_* variables as the SDK reads them, sampling,
and a queue that drops (counted) rather than grows."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from billing.admission import Admitted
from billing.usage import Usage
from gateway.config_values import ConfigError
from gateway.http.tracing import Tracer, parent_of, span_of
from gateway.outbound.otlp import INTERNAL, SERVER, SpanData, Value, encode
from gateway.stores.records import Settlement
from gateway.trace_settings import TraceSettings, trace_settings
from tests.otlp_receiver import value_of

TRACE, PARENT = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
RID = "a" * 32


def settings_of(**env: str) -> TraceSettings:
    return trace_settings(lambda name, default=None: env.get(name, default))


@pytest.mark.parametrize(
    "header, expected",
    [
        (f"00-{TRACE}-{PARENT}-01", (TRACE, PARENT, 1)),
        (f"00-{TRACE}-{PARENT}-00", (TRACE, PARENT, 0)),
        (f"01-{TRACE}-{PARENT}-01-later", (TRACE, PARENT, 1)),  # a later version, read in part
        (f"00-{TRACE}-{PARENT}-01-later", None),  # version 00 is exactly 55 characters
        (f"ff-{TRACE}-{PARENT}-01", None),
        (f"00-{'0' * 32}-{PARENT}-01", None),
        (f"00-{TRACE}-{'0' * 16}-01", None),
        (f"00-{TRACE.upper()}-{PARENT}-01", None),
        (f"00_{TRACE}-{PARENT}-01", None),
        ("", None),
        (None, None),
    ],
)
def test_traceparent_is_read_as_the_spec_says(
    header: str | None, expected: tuple[str, str, int] | None
) -> None:
    assert parent_of(header) == expected


def test_the_endpoint_gets_its_traces_path_and_headers_are_decoded() -> None:
    s = settings_of(
        OTEL_EXPORTER_OTLP_ENDPOINT="https://collector:4318/",
        OTEL_EXPORTER_OTLP_HEADERS="x-api-key=a%20b, dd-protocol=otlp",
        OTEL_RESOURCE_ATTRIBUTES="deployment.environment=prod,service.name=gw",
    )
    assert s.enabled and s.endpoint == "https://collector:4318/v1/traces"
    assert s.headers == (("x-api-key", "a b"), ("dd-protocol", "otlp"))
    assert s.service_name == "gw"
    assert "a b" not in repr(s)  # a header may hold an API key
    own = settings_of(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="http://c:4318/custom")
    assert own.endpoint == "http://c:4318/custom"


def test_off_without_an_endpoint_or_when_disabled() -> None:
    assert not settings_of().enabled
    url = "http://c:4318"
    assert not settings_of(OTEL_EXPORTER_OTLP_ENDPOINT=url, OTEL_SDK_DISABLED="true").enabled
    assert not settings_of(OTEL_EXPORTER_OTLP_ENDPOINT=url, OTEL_TRACES_EXPORTER="none").enabled


@pytest.mark.parametrize(
    "env, named",
    [
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "OTEL_EXPORTER_OTLP_PROTOCOL"),
        ({"OTEL_TRACES_SAMPLER": "sometimes"}, "OTEL_TRACES_SAMPLER"),
        ({"OTEL_TRACES_SAMPLER_ARG": "1.5"}, "OTEL_TRACES_SAMPLER_ARG"),
        ({"TRACE_TENANT_ATTRIBUTES": "account,prompt"}, "TRACE_TENANT_ATTRIBUTES"),
        ({"OTEL_EXPORTER_OTLP_HEADERS": "novalue"}, "OTEL_EXPORTER_OTLP_HEADERS"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"),
    ],
)
def test_a_setting_it_cannot_honour_fails_the_boot_by_name(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        settings_of(**env)


class _Request(dict[object, object]):
    """Only what `Tracer.begin` reads of a request."""

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__()
        self.headers = headers


def _begin(tracer: Tracer, headers: dict[str, str], rid: str = RID) -> bool:
    return tracer.begin(_Request(headers), rid).sampled  # type: ignore[arg-type]


def test_sampling_follows_the_parent_unless_told_otherwise() -> None:
    on = Tracer(TraceSettings(endpoint="http://c/v1/traces"))
    assert _begin(on, {"traceparent": f"00-{TRACE}-{PARENT}-00"}) is False
    assert _begin(on, {"traceparent": f"00-{TRACE}-{PARENT}-01"}) is True
    assert _begin(on, {}) is True
    off = Tracer(TraceSettings(endpoint="x", sampler="parentbased_always_off"))
    assert _begin(off, {}) is False
    assert _begin(off, {"traceparent": f"00-{TRACE}-{PARENT}-01"}) is True
    ratio = Tracer(TraceSettings(endpoint="x", sampler="traceidratio", ratio=0.5))
    assert _begin(ratio, {}, "0" * 16 + "7" + "f" * 15) is True  # below half of 2^64
    assert _begin(ratio, {}, "0" * 16 + "8" + "0" * 15) is False


def _settled(tracer: Tracer, rid: str) -> None:
    admitted = Admitted(rid, "acct-1", "key-1", 0, 900, 0, None, None, "pro")
    usage = Usage(input_tokens=10, output_tokens=5, source="counted")
    tracer.settled(admitted, Settlement("m", "openai", usage, 450, "v1", end_user="u-9"), True)


def test_a_full_queue_drops_and_counts_rather_than_grows() -> None:
    tracer = Tracer(TraceSettings(endpoint="x", queue_size=2))
    for i in range(5):
        _settled(tracer, f"{i:032x}")  # late settlements: each a span of its own
    assert len(tracer.queue) == 2 and tracer.dropped == 3
    assert len(tracer.take(10)) == 2 and not tracer.queue


def _attrs(span: SpanData) -> dict[str, Value]:
    return dict(span.fixed + span.attributes)


def test_tenant_ids_only_as_listed_and_the_encoding_is_otlps() -> None:
    tracer = Tracer(TraceSettings(endpoint="x"))
    _settled(tracer, RID)
    traced = tracer.queue[0]
    unlisted = _attrs(span_of(traced, ()))
    assert not [v for v in unlisted.values() if v in ("acct-1", "key-1", "u-9")]
    assert unlisted["meterway.usage_source"] == "counted"
    listed = _attrs(span_of(traced, ("key", "end_user")))
    assert listed["meterway.key.id"] == "key-1" and listed["meterway.end_user.id"] == "u-9"
    assert "meterway.account.id" not in listed


def test_the_hand_written_wire_is_what_opentelemetry_proto_reads() -> None:
    values: tuple[tuple[str, Value], ...] = (
        ("s", "héllo"),
        ("i", 1_234_567_890_123),
        ("neg", -5),
        ("zero", 0),
        ("f", 0.00045),
        ("yes", True),
        ("no", False),
        ("list", ("stop", "length")),
        ("long", "x" * 300),
    )
    spans = [
        SpanData(TRACE, PARENT, "", "root", SERVER, 10, 20, values[4:], True, "k=v", values[:4]),
        SpanData(TRACE, "1" * 16, PARENT, "child", INTERNAL, 2**63, 2**64 - 1, ()),
    ]
    settings = TraceSettings(endpoint="x", service_name="svc", resource=(("env", "prod"),))
    message = ExportTraceServiceRequest()
    message.ParseFromString(encode(spans, settings))
    (rs,) = message.resource_spans
    assert {a.key: value_of(a.value) for a in rs.resource.attributes} == {
        "env": "prod",
        "service.name": "svc",
    }
    (scoped,) = rs.scope_spans
    assert scoped.scope.name == "meterway"
    root, child = scoped.spans
    assert (root.trace_id.hex(), root.span_id.hex(), root.parent_span_id) == (TRACE, PARENT, b"")
    assert (root.name, root.kind, root.trace_state) == ("root", Span.SPAN_KIND_SERVER, "k=v")
    assert (root.start_time_unix_nano, root.end_time_unix_nano) == (10, 20)
    assert root.status.code == Status.STATUS_CODE_ERROR
    assert [(a.key, value_of(a.value)) for a in root.attributes] == list(values)  # fixed first
    assert child.parent_span_id.hex() == PARENT and child.kind == Span.SPAN_KIND_INTERNAL
    assert (child.start_time_unix_nano, child.end_time_unix_nano) == (2**63, 2**64 - 1)
    assert child.status.code == Status.STATUS_CODE_UNSET and not child.attributes


def test_a_settlement_under_any_request_id_gets_a_valid_span() -> None:
    """A Realtime turn's debit is `<request id>.<n>`: its span's ids are hex all the same,
    and the hook never raises into the settlement."""
    tracer = Tracer(TraceSettings(endpoint="x"))
    for rid in (f"{RID}.3", "batch_abc:7", "x"):
        _settled(tracer, rid)
    spans = tracer.take(10)
    assert len(spans) == 3 and len({s.trace_id for s in spans}) == 3
    message = ExportTraceServiceRequest()
    message.ParseFromString(encode(spans, TraceSettings(endpoint="x")))
    ids = [_attrs(s)["meterway.request_id"] for s in spans]
    assert ids == [f"{RID}.3", "batch_abc:7", "x"]
