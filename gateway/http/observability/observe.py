# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""Per-request measurements for /metrics: route, model, status, and where the time went.

The middleware (gateway/http/middleware.py) starts a `Timing` on every request; the proxy
names the priced model and wraps its provider waits in `timing.upstream()`, so the time
Meterway adds is the whole minus the provider's share.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING, Final

from aiohttp import web

from gateway.telemetry import metrics

if TYPE_CHECKING:
    from gateway.http.observability.span import Traced


class Timing:
    """`with timing.upstream():` adds the block's time to `upstream_s`. A plain class, not
    a generator context manager: it runs twice per proxied request."""

    __slots__ = ("_started", "began", "model", "traced", "upstream_s")

    def __init__(self) -> None:
        self.began = time.perf_counter()
        self.model = ""
        self.upstream_s = 0.0
        self._started = 0.0
        self.traced: Traced | None = None  # the request's span, when tracing is on

    def upstream(self) -> Timing:
        return self

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.upstream_s += time.perf_counter() - self._started


# Final, as REQUEST_ID: the compiled build reads it from a C static, not the globals dict
TIMING: Final = web.RequestKey("timing", Timing)


def timing(request: web.Request) -> Timing:
    """The request's timing (a detached one where no middleware started it, as in tests).
    Not `request.get`: the Mapping mixin's get is two more Python calls, thrice a request."""
    try:
        return request[TIMING]
    except KeyError:
        return Timing()


def _route(match: web.UrlMappingMatchInfo) -> str:
    resource = match.route.resource
    return resource.canonical if resource is not None else "unmatched"


def observed(match: web.UrlMappingMatchInfo, clock: Timing, status: int) -> None:
    """A request's count and its time (Meterway's share and the provider's), at its end;
    `match` is the request's `match_info`, which the middleware reads once for this and
    the span."""
    total = time.perf_counter() - clock.began
    route, m = _route(match), metrics()
    tally = m.tally
    tally.count(m.requests, route, clock.model, str(status))
    tally.observe(m.overhead, max(total - clock.upstream_s, 0.0), route)
    if clock.upstream_s:
        tally.observe(m.upstream, clock.upstream_s, route)
