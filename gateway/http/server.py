"""The listening side: idle and header-read timeouts, a connection cap per process, JSON
answers to malformed HTTP, and the optional operator listener (ADMIN_LISTEN_ADDR).

aiohttp's keep-alive timer also runs from the moment a connection opens and closes it while
no complete request head has arrived, so CLIENT_IDLE_TIMEOUT_S bounds both header-read time
(slowloris) and idle keep-alive. aiohttp has no public hook for its protocol class, so the
runner's server is given ours (the only private seam used here, kept in this one module).
"""

from __future__ import annotations

import json
import os
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from gateway.errors import InternalError, MalformedRequest, MeterwayError
from gateway.settings import Settings


class _Protocol(RequestHandler):
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
            handler_cancellation=True,
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
