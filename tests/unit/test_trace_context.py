"""Trace context and trace settings without a server: W3C `traceparent` read as the spec
says (a bad one starts a new trace), the OTEL_* variables as the SDK reads them, sampling,
and a queue that drops (counted) rather than grows."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from billing.metering.finish import finish_reasons
from billing.metering.usage import Usage
from billing.money.admission import Admitted
from gateway.config.traces import TraceSettings, trace_settings
from gateway.config.values import ConfigError
from gateway.http.observability.observe import Timing
from gateway.http.observability.span import Attempt
from gateway.http.observability.span_attributes import span_of, spans_of
from gateway.http.observability.trace_context import DEFERRED, context_of, outgoing, parent_of
from gateway.http.observability.tracer import REPLY_WAIT_NS, Tracer
from gateway.outbound.otlp import CLIENT, INTERNAL, SERVER, SpanData, Value, encode
from gateway.stores.records import Settlement
from tests.support.fakes.otlp_receiver import value_of

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
    return tracer.begin(_Request(headers), rid, Timing()).sampled  # type: ignore[arg-type]


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


def _settled(tracer: Tracer, rid: str, answered: bool = True) -> None:
    """A debit's span as the meter hands it over, and (`answered`) Redis's reply to the
    debit, which the span waits for (its uncollected part)."""
    admitted = Admitted(rid, "acct-1", "key-1", 0, 900, 0, None, None, "pro")
    usage = Usage(input_tokens=10, output_tokens=5, source="counted")
    tracer.settled(admitted, Settlement("m", "openai", usage, 450, "v1", end_user="u-9"), True)
    if answered:
        tracer.answered(rid)


def test_a_span_waits_for_its_debits_reply_and_no_longer_than_a_second() -> None:
    tracer = Tracer(TraceSettings(endpoint="x"))
    _settled(tracer, RID, answered=False)
    assert tracer.take(10) == [] and len(tracer.queue) == 1  # the reply is due
    tracer.uncollected(RID, 70)
    tracer.answered(RID)
    (span,) = tracer.take(10)
    assert _attrs(span)["meterway.uncollected_micros"] == 70
    _settled(tracer, "b" * 32, answered=False)
    tracer.queue[0].awaited_ns -= REPLY_WAIT_NS  # a reply that never came (a retried debit)
    assert len(tracer.take(10)) == 1
    _settled(tracer, "c" * 32, answered=False)
    assert len(tracer.take(10, final=True)) == 1  # a stop sends every span


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


T16 = TRACE[16:]


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"b3": f"{TRACE}-{PARENT}-1"}, (TRACE, PARENT, 1)),
        ({"b3": f"{TRACE}-{PARENT}-0-{PARENT}"}, (TRACE, PARENT, 0)),
        ({"b3": f"{TRACE}-{PARENT}-d"}, (TRACE, PARENT, 1)),  # debug is sampled
        ({"b3": f"{T16}-{PARENT}"}, ("0" * 16 + T16, PARENT, DEFERRED)),  # 64-bit, no decision
        ({"b3": "1"}, None),  # a decision without ids starts a new trace
        ({"b3": f"{TRACE}-{'0' * 16}-1"}, None),
        ({"b3": f"{TRACE}-xyz-1"}, None),
        ({"x-b3-traceid": TRACE, "x-b3-spanid": PARENT, "x-b3-sampled": "1"}, (TRACE, PARENT, 1)),
        (
            {"x-b3-traceid": T16, "x-b3-spanid": PARENT, "x-b3-flags": "1"},
            ("0" * 16 + T16, PARENT, 1),
        ),
        ({"x-b3-traceid": TRACE, "x-b3-spanid": PARENT, "x-b3-sampled": "0"}, (TRACE, PARENT, 0)),
        ({"x-b3-traceid": TRACE}, None),
    ],
)
def test_b3_single_and_multi_are_read_as_zipkin_writes_them(
    headers: dict[str, str], expected: tuple[str, str, int] | None
) -> None:
    assert context_of(headers, ("b3", "b3multi")) == expected


def test_propagators_are_read_in_order_and_only_when_named() -> None:
    both = {"traceparent": f"00-{TRACE}-{PARENT}-01", "b3": f"{'1' * 32}-{'2' * 16}-1"}
    assert context_of(both, ("tracecontext", "b3"))[0] == "1" * 32  # type: ignore[index]
    assert context_of(both, ("b3", "tracecontext"))[0] == TRACE  # type: ignore[index]
    assert context_of({"b3": both["b3"]}, ("tracecontext",)) is None
    assert settings_of().propagators == ("tracecontext",)
    assert settings_of(OTEL_PROPAGATORS="b3multi, baggage").propagators == ("b3multi",)
    with pytest.raises(ConfigError, match="OTEL_PROPAGATORS"):
        settings_of(OTEL_PROPAGATORS="tracecontext,jaeger")
    out = dict(outgoing(("tracecontext", "b3", "b3multi"), TRACE, PARENT, True))
    assert out == {
        "traceparent": f"00-{TRACE}-{PARENT}-01",
        "b3": f"{TRACE}-{PARENT}-1",
        "X-B3-TraceId": TRACE,
        "X-B3-SpanId": PARENT,
        "X-B3-Sampled": "1",
    }


def test_a_deferred_b3_decision_is_the_root_samplers() -> None:
    never = Tracer(
        TraceSettings(endpoint="x", sampler="parentbased_always_off", propagators=("b3",))
    )
    assert _begin(never, {"b3": f"{TRACE}-{PARENT}"}) is False
    assert _begin(never, {"b3": f"{TRACE}-{PARENT}-1"}) is True


@pytest.mark.parametrize(
    "answer, reasons",
    [
        ({"choices": [{"finish_reason": "stop"}, {"finish_reason": "length"}]}, ("stop", "length")),
        ({"choices": [{"delta": {}}]}, ()),
        ({"stop_reason": "end_turn", "content": []}, ("end_turn",)),
        ({"candidates": [{"finishReason": "STOP"}]}, ("STOP",)),
        ({"object": "response", "status": "completed"}, ("completed",)),
        (
            {
                "object": "response",
                "status": "incomplete",
                "incomplete_details": {"reason": "max_output_tokens"},
            },
            ("max_output_tokens",),
        ),
        ({"object": "list", "data": []}, ()),
    ],
)
def test_finish_reasons_in_each_wires_words(
    answer: dict[str, object], reasons: tuple[str, ...]
) -> None:
    assert finish_reasons(answer) == reasons


def test_attempts_are_children_and_only_the_served_one_is_billed() -> None:
    tracer = Tracer(TraceSettings(endpoint="x"))
    traced = tracer.begin(_Request({}), RID, Timing())  # type: ignore[arg-type]
    east, west = Attempt(5, "east", "m-east"), Attempt(7, "west", "m-west")
    east.outcome, east.end_ns = "connect", 6
    west.outcome, west.served = "200", True
    traced.more().attempts += [east, west]
    _settled(tracer, RID)
    traced.end_ns = 9
    server, one, two = spans_of(traced, ())
    assert {one.parent_id, two.parent_id} == {server.span_id}
    assert len({server.span_id, one.span_id, two.span_id}) == 3
    assert (one.kind, one.failed, _attrs(one)["meterway.billed"]) == (CLIENT, True, False)
    assert (two.failed, _attrs(two)["meterway.billed"], two.end_ns) == (False, True, 9)
    message = ExportTraceServiceRequest()
    message.ParseFromString(encode([server, one, two], TraceSettings(endpoint="x")))
    assert len(message.resource_spans[0].scope_spans[0].spans) == 3
