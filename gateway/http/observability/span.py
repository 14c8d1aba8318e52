# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""A request's span as it is kept while served and until exported: the record that
`tracing.py` fills on the request's path, `observe.py` carries and `span_attributes.py`
turns into OTLP spans. A module of its own so those three import it, never each other.
"""

from __future__ import annotations

import time
from typing import Final

from aiohttp import web
from yarl import URL

from billing.money.admission import Admitted
from gateway.stores.records import Settlement

SpanEvent = tuple[str, int, tuple[tuple[str, str | int], ...]]  # name, time, attributes
# Final: the compiled build keeps it in a C static, where a name from `from time import`
# is a globals dict lookup on each read.
time_ns: Final = time.time_ns


class Attempt:
    """One try of a provider by a call with deployments (http/proxy/failover.py): a child
    span of the request's. `outcome` is the status it answered, or `connect`."""

    __slots__ = ("end_ns", "model", "outcome", "provider", "served", "start_ns")

    def __init__(self, start_ns: int, provider: str, model: str) -> None:
        self.start_ns, self.end_ns = start_ns, 0
        self.provider, self.model = provider, model
        self.outcome, self.served = "", False


class Traced:
    """One request's span while it is served, then its facts until exported.

    Not slotted: what most spans never set (a settlement, attempts, finish reasons) reads
    its class default, so `__init__` sets five fields on the request's path."""

    settlement: Settlement | None = None
    admitted: Admitted
    billed = False
    awaiting = False  # its debit's reply is due (`Tracer.answered`), since `awaited_ns`
    awaited_ns = 0
    told = False  # its headers went into its answer as built (`trace_into`)
    uncollected = 0
    extra: Extra | None = None
    finish: tuple[str, ...] = ()
    end_ns = 0
    status = 0
    method = ""
    model = ""
    error = ""
    match: web.UrlMappingMatchInfo | None = None
    url: URL | None = None

    def __init__(
        self, trace_id: str, request_id: str, parent_id: str, flags: int, state: str
    ) -> None:
        self.trace_id, self.request_id, self.span_id = trace_id, request_id, request_id[:16]
        self.parent_id, self.flags, self.state = parent_id, flags, state
        self.start_ns = time_ns()

    @property
    def sampled(self) -> bool:
        return bool(self.flags & 1)

    @property
    def path(self) -> str:
        return self.url.path if self.url is not None else ""

    def header(self) -> str:
        """traceparent's form with this span as the parent: `traceresponse`, and what a
        provider that forwards traces is sent."""
        flags = "01" if self.flags & 1 else "00"
        return f"00-{self.trace_id}-{self.span_id}-{flags}"  # one string built, not four

    def more(self) -> Extra:
        """What few calls add (attempts, metering events), made when first needed."""
        if self.extra is None:
            self.extra = Extra()
        return self.extra


class Extra:
    """A span's rarer facts: a call's provider attempts, a metering batch's events."""

    __slots__ = ("attempts", "events")

    def __init__(self) -> None:
        self.attempts: list[Attempt] = []
        self.events: list[SpanEvent] = []
