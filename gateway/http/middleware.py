# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""The one place errors become HTTP answers, and every answer gets its request id."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import ClassVar, Final

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.errors import (
    InternalError,
    InvalidRequest,
    MalformedRequest,
    MeterwayError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    store_down,
)
from gateway.http.headers import error_headers
from gateway.http.observability.call_metrics import CallMetrics
from gateway.http.observability.observe import TIMING, Timing, observed
from gateway.http.observability.tracer import Tracer, answer_headers
from gateway.stores.errors import (
    AnalyticsUnavailable,
    HotStoreUnavailable,
    LedgerRejected,
    LedgerUnavailable,
    StoreUnavailable,
)

log = logging.getLogger("meterway")
# Where Redis or PostgreSQL fail outside the metered path (admin calls, key lookup), the
# answer is 503: the stores are down, not the request wrong.
# The stores translate their libraries' errors into StoreUnavailable where they enter.
STORE_DOWN = StoreUnavailable
# Final: the compiled modules that read it take it from a C static, not the globals dict
REQUEST_ID: Final = web.RequestKey("request_id", str)
ANTHROPIC_PATHS = ("/v1/messages",)
SCIM_PATHS = ("/scim/",)  # RFC 7644's error body


def render(request: web.Request, error: MeterwayError) -> web.Response:
    anthropic = request.path.startswith(ANTHROPIC_PATHS)
    scim = request.path.startswith(SCIM_PATHS)
    body = (
        error.scim_body() if scim else error.anthropic_body() if anthropic else error.openai_body()
    )
    rid = request[REQUEST_ID]
    headers = {"x-request-id": rid, "request-id": rid, **error_headers(error)}
    kind = "application/scim+json" if scim else "application/json"
    return web.Response(
        status=error.status, text=json.dumps(body), content_type=kind, headers=headers
    )


def _translate(exc: web.HTTPException) -> MeterwayError:
    if exc.status == 404:
        return NotFound("Unknown path.")
    if exc.status == 405:
        return MethodNotAllowed("Method not allowed on this path.")
    if exc.status == 413:
        return PayloadTooLarge("Request body is larger than this gateway accepts.")
    return InternalError(exc.reason)


class GatewayMiddleware:
    """The only middleware: the request id, the timing /metrics reads, the request's span
    when tracing is on, a call's time for OTLP metrics when they are on, and every error as
    its HTTP answer. One layer, not one per concern: aiohttp wraps each in a partial and a
    coroutine frame on every request. A class, not `@web.middleware`: compiled, a function
    takes no attribute, and aiohttp reads `__middleware_version__` from the callable."""

    __middleware_version__: ClassVar[int] = 1

    def __init__(self, tracer: Tracer | None = None, calls: CallMetrics | None = None) -> None:
        self.tracer, self.calls = tracer, calls

    async def __call__(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        clock = request[TIMING] = Timing()
        rid = request[REQUEST_ID] = os.urandom(16).hex()
        tracer, calls = self.tracer, self.calls
        traced = None if tracer is None else tracer.begin(request, rid, clock)
        status, error = 500, ""
        try:
            try:
                response = await handler(request)
            except Exception as exc:
                error = exc.type if isinstance(exc, MeterwayError) else type(exc).__name__
                response = error_answer(request, exc)
            status = response.status
            if traced is not None and (error or not traced.told) and not response.prepared:
                answer_headers(traced, response)  # unless the handler's answer has them
            return response
        except web.HTTPException as refusal:  # apart from `exc`: mypyc/mypyc#620
            status = refusal.status
            raise
        except asyncio.CancelledError:
            status = 499  # the client went away
            raise
        finally:
            match = request.match_info  # read once: a Python property, for both
            observed(match, clock, status)
            if calls is not None and clock.model:  # a metered call named its model
                calls.timed(clock, status)
            if tracer is not None and traced is not None:
                tracer.end(request, match, traced, clock.model, status, error)


gateway_middleware = GatewayMiddleware()


def _store_of(exc: Exception) -> str:
    """Which store an unavailable store's error is, as store_down's `store` names it."""
    if isinstance(exc, HotStoreUnavailable):
        return "redis"
    if isinstance(exc, LedgerUnavailable):
        return "postgres"
    if isinstance(exc, AnalyticsUnavailable):
        return "clickhouse"
    return "unknown"


def error_answer(request: web.Request, exc: Exception) -> web.Response:
    """The answer a handler's exception becomes; a redirect (an HTTPException under 400) is
    raised again for aiohttp to send."""
    if isinstance(exc, MeterwayError):
        return render(request, exc)
    if isinstance(exc, STORE_DOWN):
        log.error("store unavailable on %s %s: %s", request.method, request.path, exc)
        return render(request, store_down(_store_of(exc)))
    if isinstance(exc, LedgerRejected):
        # PostgreSQL refused a value the request carried (a NUL in a name, an id too long):
        # the request is wrong, not the gateway. Logged, since a bug can look the same.
        log.warning("ledger rejected a value on %s %s: %s", request.method, request.path, exc)
        return render(request, InvalidRequest("A value in this request cannot be stored."))
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        return render(request, _translate(exc))
    if _client_left(exc):
        # Nobody is there to read an error, and it is not the gateway's fault. Work
        # already forwarded is owned by its task (billed or released there).
        log.info("client left during %s %s", request.method, request.path)
        return render(request, MalformedRequest("The connection closed mid-request."))
    log.exception("unhandled error on %s %s", request.method, request.path, exc_info=exc)
    return render(request, InternalError("The gateway failed; nothing was billed."))


def _client_left(exc: Exception) -> bool:
    """The client's own socket reset. aiohttp's client errors subclass ConnectionResetError
    too: a provider's socket resetting is the gateway's problem, never the client's 400."""
    return isinstance(exc, ConnectionResetError) and not isinstance(exc, aiohttp.ClientError)
