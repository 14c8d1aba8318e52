# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""Trace context as the caller sends it and as a provider is sent it: W3C `traceparent`
(always read), B3 in its single (`b3`) and multi-header (`X-B3-*`) forms when
OTEL_PROPAGATORS names `b3` or `b3multi`. Pure: a header mapping in, ids out.

A context is (trace id, parent span id, flags): 32 and 16 lower-case hex digits, flags' bit
0 meaning sampled. B3's 64-bit trace ids are left-padded to 128 bits, as OpenTelemetry's B3
propagator does; a B3 context with no sampling decision (`X-B3-Sampled` absent) is read as
not sampled by its caller, so a parent-based sampler samples it only when the root sampler
would (`DEFERRED`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

HEX = frozenset("0123456789abcdef")
ZERO_TRACE, ZERO_SPAN = "0" * 32, "0" * 16
DEFERRED = 2  # flags' bit 1, never on the wire: the caller left sampling to us (B3)
Context = tuple[str, str, int]
Headers = tuple[tuple[str, str], ...]


def parent_of(header: str | None) -> Context | None:
    """A valid `traceparent`'s trace id, parent id and flags; None for anything else (the
    spec: a bad header is ignored and a new trace starts). A later version's longer header
    is read by its first four fields."""
    if header is None or len(header) < 55:
        return None
    version, trace_id, parent_id, flags = header[:2], header[3:35], header[36:52], header[53:55]
    if header[2] != "-" or header[35] != "-" or header[52] != "-":
        return None
    if version == "ff" or (version == "00" and len(header) != 55):
        return None
    if len(header) > 55 and header[55] != "-":
        return None
    if not set(version + trace_id + parent_id + flags) <= HEX:
        return None
    if trace_id == ZERO_TRACE or parent_id == ZERO_SPAN:
        return None
    return trace_id, parent_id, int(flags, 16) & 1


def _ids(trace_id: str, span_id: str) -> tuple[str, str] | None:
    trace_id = trace_id.strip().lower()
    span_id = span_id.strip().lower()
    if len(trace_id) == 16:
        trace_id = "0" * 16 + trace_id
    if len(trace_id) != 32 or len(span_id) != 16 or not set(trace_id + span_id) <= HEX:
        return None
    if trace_id == ZERO_TRACE or span_id == ZERO_SPAN:
        return None
    return trace_id, span_id


def _sampled(value: str | None, debug: bool = False) -> int:
    if debug or value in ("1", "d", "true"):
        return 1
    return 0 if value in ("0", "false") else DEFERRED


def b3_single(header: str | None) -> Context | None:
    """`b3: {trace}-{span}[-{1|0|d}[-{parent}]]`; a lone `0`/`1`/`d` carries no ids, so no
    parent (a new trace)."""
    if not header:
        return None
    parts = header.split("-")
    if len(parts) < 2 or len(parts) > 4:
        return None
    ids = _ids(parts[0], parts[1])
    if ids is None:
        return None
    return ids[0], ids[1], _sampled(parts[2] if len(parts) > 2 else None)


def b3_multi(headers: Mapping[str, str]) -> Context | None:
    """`X-B3-TraceId`, `X-B3-SpanId`, `X-B3-Sampled` and `X-B3-Flags: 1` (debug)."""
    trace_id, span_id = headers.get("x-b3-traceid"), headers.get("x-b3-spanid")
    if trace_id is None or span_id is None:
        return None
    ids = _ids(trace_id, span_id)
    if ids is None:
        return None
    sampled = headers.get("x-b3-sampled")
    return ids[0], ids[1], _sampled(sampled, headers.get("x-b3-flags") == "1")


READERS = {
    "tracecontext": lambda h: parent_of(h.get("traceparent")),
    "b3": lambda h: b3_single(h.get("b3")),
    "b3multi": b3_multi,
}


def context_of(headers: Mapping[str, str], propagators: tuple[str, ...]) -> Context | None:
    """The caller's context by the propagators configured; when several carry one, the
    last listed wins (OpenTelemetry's composite propagator extracts in order, each over
    the last)."""
    for name in reversed(propagators):
        read = READERS.get(name)
        found = None if read is None else read(headers)
        if found is not None:
            return found
    return None


def outgoing(propagators: tuple[str, ...], trace_id: str, span_id: str, sampled: bool) -> Headers:
    """What a provider that forwards traces is sent: the gateway's span as the parent, in
    every configured format. Never the caller's `tracestate`: its vendors' values are the
    caller's, not a provider's to read."""
    flag = "1" if sampled else "0"
    out: list[tuple[str, str]] = []
    if "tracecontext" in propagators:
        out.append(("traceparent", f"00-{trace_id}-{span_id}-0{flag}"))
    if "b3" in propagators:
        out.append(("b3", f"{trace_id}-{span_id}-{flag}"))
    if "b3multi" in propagators:
        out += [("X-B3-TraceId", trace_id), ("X-B3-SpanId", span_id), ("X-B3-Sampled", flag)]
    return tuple(out)


def trace_id_of(request_id: str) -> str:
    """A request id as a trace id: itself when it is one (the middleware's), else a hash of
    it (a Realtime turn's `<id>.<n>`), the same every time."""
    if len(request_id) == 32 and set(request_id) <= HEX:
        return request_id
    return hashlib.blake2b(request_id.encode(), digest_size=16).hexdigest()
