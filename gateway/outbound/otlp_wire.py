"""OTLP's ExportTraceServiceRequest in protobuf's wire format, written by hand.

opentelemetry-proto's message classes cost ~350 us a span here (an object per attribute and
per value, under upb); these few functions write the same bytes in ~15 us, which keeps an
exported span within the speed guard's 2%. Only the fields Meterway sets are written. The
tests decode every export with opentelemetry-proto's own classes (tests/otlp_receiver.py,
tests/unit/test_trace_context.py), so a field written wrong fails there.

Field numbers (opentelemetry/proto/trace/v1/trace.proto, common/v1/common.proto):
ExportTraceServiceRequest.resource_spans 1; ResourceSpans.resource 1, .scope_spans 2;
Resource.attributes 1; ScopeSpans.scope 1, .spans 2; InstrumentationScope.name 1;
Span.trace_id 1, .span_id 2, .trace_state 3, .parent_span_id 4, .name 5, .kind 6,
.start_time_unix_nano 7 (fixed64), .end_time_unix_nano 8 (fixed64), .attributes 9,
.status 15; Status.code 3; KeyValue.key 1, .value 2; AnyValue.string_value 1, .bool_value 2,
.int_value 3, .double_value 4 (double), .array_value 5; ArrayValue.values 1.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

Value = str | int | float | bool | tuple[str, ...]
_SMALL = [bytes([n]) for n in range(128)]
_FIXED64 = struct.Struct("<Q")
_DOUBLE = struct.Struct("<d")
_KEYS: dict[str, bytes] = {}  # a key's KeyValue.key field, written once
_ZEROS: dict[tuple[bytes, str], bytes] = {}  # a key's field with the value 0
# Span.attributes fields of a `fixed` tuple. A key's values are all of one type, so a bool
# never meets the int it equals.
_BLOCKS: dict[tuple[tuple[str, Value], ...], bytes] = {}
CACHED = 4096
STATUS_ERROR = b"\x7a\x02\x18\x02"  # Span.status = {code: STATUS_CODE_ERROR}


def varint(n: int) -> bytes:
    if 0 <= n < 128:
        return _SMALL[n]
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
    k = _KEYS.get(key)
    if k is None:
        k = _KEYS[key] = _text(b"\x0a", key)
    return k + field(b"\x12", any_value(v))


def attributes(tag: bytes, pairs: Iterable[tuple[str, Value]]) -> bytes:
    """The attributes, each a whole field; one whose value is 0 (a kind of token often
    unused) is written once and then copied."""
    out = []
    for k, v in pairs:
        if v == 0:
            kv = _ZEROS.get((tag, k))
            if kv is None:
                kv = _ZEROS[tag, k] = field(tag, key_value(k, v))
            out.append(kv)
        else:
            out.append(field(tag, key_value(k, v)))
    return b"".join(out)


def _block(pairs: tuple[tuple[str, Value], ...]) -> bytes:
    """Attributes whose values repeat together (a route, a model, an outcome), written once
    per combination: at most CACHED combinations are kept."""
    block = _BLOCKS.get(pairs)
    if block is None:
        block = attributes(b"\x4a", pairs)
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
) -> bytes:
    """One Span message (without its ScopeSpans.spans tag): the `fixed` attributes first."""
    parts = [field(b"\x0a", trace_id), field(b"\x12", span_id)]
    if state:
        parts.append(_text(b"\x1a", state))
    if parent_id:
        parts.append(field(b"\x22", parent_id))
    parts += (
        _text(b"\x2a", name),
        b"\x30" + varint(kind),
        b"\x39" + _FIXED64.pack(start_ns),
        b"\x41" + _FIXED64.pack(end_ns),
        _block(fixed),
        attributes(b"\x4a", attrs),
    )
    if failed:
        parts.append(STATUS_ERROR)
    return b"".join(parts)


def request(resource: Iterable[tuple[str, Value]], scope: str, spans: Iterable[bytes]) -> bytes:
    """An ExportTraceServiceRequest of one resource and one scope."""
    scoped = field(b"\x0a", _text(b"\x0a", scope)) + b"".join([field(b"\x12", s) for s in spans])
    body = field(b"\x0a", attributes(b"\x0a", resource)) + field(b"\x12", scoped)
    return field(b"\x0a", body)
