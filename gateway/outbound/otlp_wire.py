# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""OTLP's ExportTraceServiceRequest and ExportMetricsServiceRequest in protobuf's wire
format, written by hand.

opentelemetry-proto's message classes make an object per attribute and per value (under
upb); these few functions write the same bytes for a twentieth of that, in the exporter's
task (docs/performance.md has the instructions per span). Only the fields Meterway sets are
written. The tests decode every export with opentelemetry-proto's own classes
(tests/support/fakes/otlp_receiver.py, tests/unit/test_trace_context.py), so a field
written wrong fails there.

Field numbers (opentelemetry/proto/trace/v1/trace.proto, common/v1/common.proto):
ExportTraceServiceRequest.resource_spans 1; ResourceSpans.resource 1, .scope_spans 2;
Resource.attributes 1; ScopeSpans.scope 1, .spans 2; InstrumentationScope.name 1;
Span.trace_id 1, .span_id 2, .trace_state 3, .parent_span_id 4, .name 5, .kind 6,
.start_time_unix_nano 7 (fixed64), .end_time_unix_nano 8 (fixed64), .attributes 9,
.events 11, .status 15; Event.time_unix_nano 1, .name 2, .attributes 3;
Status.code 3; KeyValue.key 1, .value 2; AnyValue.string_value 1, .bool_value 2,
.int_value 3, .double_value 4 (double), .array_value 5; ArrayValue.values 1.

Metrics (metrics/v1/metrics.proto, collector/metrics/v1/metrics_service.proto): the request,
ResourceMetrics and ScopeMetrics number their fields as the trace ones do (so `request`
writes both); Metric.name 1, .description 2, .unit 3, .sum 7, .histogram 9; Sum.data_points
1, .aggregation_temporality 2, .is_monotonic 3; Histogram.data_points 1,
.aggregation_temporality 2; NumberDataPoint.start_time_unix_nano 2, .time_unix_nano 3
(fixed64), .as_int 6 (sfixed64), .attributes 7; HistogramDataPoint.start_time_unix_nano 2,
.time_unix_nano 3, .count 4 (fixed64), .sum 5 (double), .bucket_counts 6 (packed fixed64),
.explicit_bounds 7 (packed double), .attributes 9.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

Value = str | int | float | bool | tuple[str, ...]
_SMALL = [bytes([n]) for n in range(128)]
_FIXED64 = struct.Struct("<Q")
_DOUBLE = struct.Struct("<d")
_TIMES = struct.Struct("<BQBQ")  # Span.start_time_unix_nano's and .end_time_unix_nano's fields
_KINDS = [b"\x30" + bytes([k]) for k in range(6)]  # Span.kind fields
_KEYS: dict[str, bytes] = {}  # a key's KeyValue.key field, written once
_HEADS: dict[str, dict[int, bytes]] = {}  # a key's heads by its value's type and size
# AnyValue's type tag by span_attributes' code: an int's varint of 1 to 10 bytes, a double.
_ANY = {**{n: b"\x18" for n in range(1, 11)}, 11: b"\x21"}
# Span.attributes fields of a `fixed` tuple. A key's values are all of one type, so a bool
# never meets the int it equals.
_BLOCKS: dict[tuple[tuple[str, Value], ...], bytes] = {}
CACHED = 4096
STATUS_ERROR = b"\x7a\x02\x18\x02"  # Span.status = {code: STATUS_CODE_ERROR}


def varint(n: int) -> bytes:
    if 0 <= n < 128:
        return _SMALL[n]
    if 0 < n < 16384:  # most token counts and costs: two bytes, without the loop
        return bytes(((n & 127) | 128, n >> 7))
    n &= 0xFFFFFFFFFFFFFFFF  # a negative int64 is its two's complement, ten bytes
    out = bytearray()
    while n > 127:
        out.append((n & 127) | 128)
        n >>= 7
    out.append(n)
    return bytes(out)


def field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: its tag byte, the payload's length, the payload."""
    n = len(payload)
    return tag + (_SMALL[n] if n < 128 else varint(n)) + payload


def _text(tag: bytes, s: str) -> bytes:
    return field(tag, s.encode())


def any_value(v: Value) -> bytes:
    if v is True or v is False:
        return b"\x10\x01" if v else b"\x10\x00"
    if isinstance(v, int):
        return b"\x18" + varint(v)
    if isinstance(v, float):
        return b"\x21" + _DOUBLE.pack(v)
    if isinstance(v, tuple):
        return field(b"\x2a", b"".join(field(b"\x0a", _text(b"\x0a", s)) for s in v))
    return _text(b"\x0a", v)


def key_value(key: str, v: Value) -> bytes:
    return key_value_key(key) + field(b"\x12", any_value(v))


def attributes(tag: bytes, pairs: Iterable[tuple[str, Value]]) -> bytes:
    """The attributes, each a whole field (the resource's, written once per batch)."""
    return b"".join([field(tag, key_value(k, v)) for k, v in pairs])


def _head(key: str, any_head: bytes, n: int) -> bytes:
    """A span attribute's bytes before its value's own `n` bytes: Span.attributes' tag and
    length, the KeyValue's key, AnyValue's tag and length, the value's type tag (and a
    string's length). They depend only on the key, the type and n, so they are kept."""
    kv = key_value_key(key) + b"\x12" + varint(len(any_head) + n) + any_head
    return b"\x4a" + varint(len(kv) + n) + kv


def key_value_key(key: str) -> bytes:
    k = _KEYS.get(key)
    if k is None:
        k = _KEYS[key] = _text(b"\x0a", key)
    return k


def span_attributes(pairs: Iterable[tuple[str, Value]]) -> bytes:
    """Span.attributes fields: a value's bytes after its kept head (`_head`), so an int,
    string or double costs its own encoding and two dict reads."""
    out: list[bytes] = []
    for k, v in pairs:
        t = v.__class__
        if t is int:
            body = varint(v)  # type: ignore[arg-type]
            code = len(body)
        elif t is str:
            body = v.encode()  # type: ignore[union-attr]
            code = 16 + len(body)
        elif t is float:
            body, code = _DOUBLE.pack(v), 11
        else:  # a bool or a list: rare, written whole
            out.append(field(b"\x4a", key_value(k, v)))
            continue
        heads = _HEADS.get(k)
        if heads is None:
            heads = _HEADS[k] = {}
        head = heads.get(code)
        if head is None:
            head = _head(k, _ANY[code] if code < 16 else b"\x0a" + varint(code - 16), len(body))
            if len(heads) < CACHED:
                heads[code] = head
        out.append(head)
        out.append(body)
    return b"".join(out)


def _block(pairs: tuple[tuple[str, Value], ...]) -> bytes:
    """Attributes whose values repeat together (a route, a model, an outcome), written once
    per combination: at most CACHED combinations are kept."""
    block = _BLOCKS.get(pairs)
    if block is None:
        block = span_attributes(pairs)
        if len(_BLOCKS) < CACHED:
            _BLOCKS[pairs] = block
    return block


def span(
    trace_id: bytes,
    span_id: bytes,
    parent_id: bytes,
    state: str,
    name: str,
    kind: int,
    start_ns: int,
    end_ns: int,
    attrs: Iterable[tuple[str, Value]],
    failed: bool,
    fixed: tuple[tuple[str, Value], ...] = (),
    events: bytes = b"",
) -> bytes:
    """One Span message (without its ScopeSpans.spans tag): the `fixed` attributes first.
    `events` are Span.events fields already written (`event`)."""
    head = b"\x0a\x10" + trace_id + b"\x12\x08" + span_id
    if state:
        head += _text(b"\x1a", state)
    if parent_id:
        head += b"\x22\x08" + parent_id
    return b"".join(
        (
            head,
            _text(b"\x2a", name),
            _KINDS[kind],
            _TIMES.pack(0x39, start_ns, 0x41, end_ns),
            _block(fixed),
            span_attributes(attrs),
            events,
            STATUS_ERROR if failed else b"",
        )
    )


def event(name: str, time_ns: int, attrs: Iterable[tuple[str, Value]]) -> bytes:
    """A Span.events field (11): Event.time_unix_nano 1 (fixed64), .name 2, .attributes 3."""
    body = b"\x09" + _FIXED64.pack(time_ns) + _text(b"\x12", name) + attributes(b"\x1a", attrs)
    return field(b"\x5a", body)


def request(resource: Iterable[tuple[str, Value]], scope: str, spans: Iterable[bytes]) -> bytes:
    """An ExportTraceServiceRequest of one resource and one scope (or, given Metric
    messages, an ExportMetricsServiceRequest: the same field numbers)."""
    scoped = field(b"\x0a", _text(b"\x0a", scope)) + b"".join([field(b"\x12", s) for s in spans])
    body = field(b"\x0a", attributes(b"\x0a", resource)) + field(b"\x12", scoped)
    return field(b"\x0a", body)


_POINT_TIMES = struct.Struct("<BQBQ")  # a data point's start_time_unix_nano and time_unix_nano
CUMULATIVE, DELTA = b"\x10\x02", b"\x10\x01"  # the aggregation_temporality field


def number_point(attrs: Iterable[tuple[str, Value]], start_ns: int, at_ns: int, n: int) -> bytes:
    """A NumberDataPoint of a whole number (as_int)."""
    return (
        _POINT_TIMES.pack(0x11, start_ns, 0x19, at_ns)
        + b"\x31"
        + _FIXED64.pack(n & 0xFFFFFFFFFFFFFFFF)
        + attributes(b"\x3a", attrs)
    )


def histogram_point(
    attrs: Iterable[tuple[str, Value]],
    start_ns: int,
    at_ns: int,
    counts: Iterable[int],
    total: float,
    bounds: Iterable[float],
) -> bytes:
    """A HistogramDataPoint: one count per bucket (len(bounds) + 1 of them), their sum."""
    counts = list(counts)
    return b"".join(
        (
            _POINT_TIMES.pack(0x11, start_ns, 0x19, at_ns),
            b"\x21" + _FIXED64.pack(sum(counts)),
            b"\x29" + _DOUBLE.pack(total),
            field(b"\x32", b"".join(_FIXED64.pack(c) for c in counts)),
            field(b"\x3a", b"".join(_DOUBLE.pack(b) for b in bounds)),
            attributes(b"\x4a", attrs),
        )
    )


def metric(
    name: str, description: str, unit: str, points: Iterable[bytes], delta: bool, sum_: bool
) -> bytes:
    """A Metric: a monotonic Sum of number points, or a Histogram of histogram points."""
    body = b"".join([field(b"\x0a", p) for p in points]) + (DELTA if delta else CUMULATIVE)
    if sum_:
        body += b"\x18\x01"  # is_monotonic
    head = _text(b"\x0a", name) + _text(b"\x12", description) + _text(b"\x1a", unit)
    return head + field(b"\x3a" if sum_ else b"\x4a", body)
