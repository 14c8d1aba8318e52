"""The listening side: idle and header-read timeouts, a connection cap per process, JSON
answers to malformed HTTP, what a handler does when its client leaves, and the optional
operator listener (ADMIN_LISTEN_ADDR).

A client that leaves cancels its handler, as aiohttp's `handler_cancellation` would, unless
the handler said otherwise by setting `CLIENT_LEFT` on its request: a metered call that was
admitted runs on, so that what the provider does is billed (gateway/http/proxy/routes.py). Doing
this here, rather than cancel the handler and keep the call alive in a task of its own,
spares every proxied request a task and a shield (docs/performance.md).

aiohttp's keep-alive timer also runs from the moment a connection opens and closes it while
no complete request head has arrived, so CLIENT_IDLE_TIMEOUT_S bounds both header-read time
(slowloris) and idle keep-alive. aiohttp has no public hook for its protocol class, so the
runner's server is given ours (the only private seam used here, kept in this one module).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from gateway.config.settings import Settings
from gateway.errors import InternalError, MalformedRequest, MeterwayError

# Set by a handler whose request must outlive its client: called with the request and the
# task serving the connection when the client leaves (instead of cancelling it). A plain
# function, not a closure over the request, which would make a reference cycle of every
# request (freed by the garbage collector instead of by reference counts).
ClientLeft = Callable[[web.Request, asyncio.Task[None]], None]
CLIENT_LEFT: web.RequestKey[ClientLeft] = web.RequestKey("client_left")


class _Protocol(RequestHandler):
    def connection_lost(self, exc: BaseException | None) -> None:
        """The runner does not cancel handlers (`handler_cancellation=False`): this does,
        unless the request in progress set CLIENT_LEFT."""
        request, task = self._current_request, self._task_handler
        super().connection_lost(exc)
        if task is None:
            return
        if not isinstance(request, web.Request) or (left := request.get(CLIENT_LEFT)) is None:
            task.cancel()
        else:
            left(request, task)

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """aiohttp's plain-text answer echoes the offending bytes (a client's key among them);
        ours is the usual JSON error body with a request id."""
        super().handle_error(request, status, exc, message)  # logs, checks nothing was sent
        error: MeterwayError = (
            InternalError("The gateway failed.")
            if status >= 500
            else MalformedRequest("The request is not valid HTTP (or its head is too large).")
        )
        resp = web.Response(
            status=error.status,
            text=json.dumps(error.openai_body()),
            content_type="application/json",
            headers={"x-request-id": os.urandom(16).hex()},
        )
        resp.force_close()
        return resp


class _Server(web.Server):
    max_connections: int = 4096

    def __call__(self) -> RequestHandler:
        return _Protocol(self, loop=self._loop, **self._kwargs)

    def connection_made(self, handler: RequestHandler, transport: Any) -> None:
        """Over MAX_CONNECTIONS, a new connection is closed at once."""
        if len(self._connections) >= self.max_connections:
            transport.abort()
            return
        super().connection_made(handler, transport)


class GatewayRunner(web.AppRunner):
    def __init__(self, app: web.Application, settings: Settings) -> None:
        super().__init__(
            app,
            handler_cancellation=False,  # _Protocol.connection_lost cancels, or not
            access_log=None,
            keepalive_timeout=settings.client_idle_timeout_s,
            # On SIGTERM, requests still being served get DRAIN_TIMEOUT_S, not aiohttp's 60 s:
            # an orchestrator's kill must find their settlements started, not still waiting.
            # (aiohttp reads 0 as "no limit": DRAIN_TIMEOUT_S=0 means at once.)
            shutdown_timeout=max(settings.drain_timeout_s, 0.001),
        )
        self._max_connections = settings.max_connections

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _Server
        server.max_connections = self._max_connections  # type: ignore[attr-defined]
        return server


async def start_sites(
    runner: web.AppRunner, settings: Settings, *, reuse_port: bool = False
) -> None:
    """The public listener, and the operator listener when ADMIN_LISTEN_ADDR is set."""
    addresses = [(settings.listen_host, settings.listen_port)]
    if settings.admin_listen is not None:
        addresses.append(settings.admin_listen)
    for host, port in addresses:
        site = web.TCPSite(runner, host, port, reuse_port=reuse_port, backlog=4096)
        await site.start()
