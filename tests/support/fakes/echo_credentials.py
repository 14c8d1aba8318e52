"""A third party that repeats every credential it was sent in its error body: the worst
answer an outbound client can get back. Every request is answered `status` with a JSON
error in the shape OpenAI, Anthropic, Stripe and Lago write (`error.message`) and the one
OAuth 2.0 writes (`error_description`), whose text holds each header's value (a bearer
token or an api key without its scheme, a basic credential decoded), each query value and
the body as sent. OpenID Connect discovery is answered, pointing at this server, so a
client gets as far as sending its client secret."""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from tests.support.harness import free_port


@dataclass
class Echo:
    url: str
    status: int = 401
    asked: int = 0


def _bare(value: str) -> str:
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(rest).decode(errors="replace")
        except (binascii.Error, ValueError):
            return rest
    return rest if scheme.lower() == "bearer" else value


async def _said(request: web.Request) -> str:
    heard = [_bare(v) for v in request.headers.values()]
    heard += list(request.query.values())
    heard.append(await request.text())
    return " ".join(heard)


@asynccontextmanager
async def echo_server(status: int = 401) -> AsyncIterator[Echo]:
    port = free_port()
    echo = Echo(f"http://127.0.0.1:{port}", status)

    async def discovery(request: web.Request) -> web.Response:
        return web.json_response({
            "issuer": echo.url, "authorization_endpoint": echo.url + "/authorize",
            "token_endpoint": echo.url + "/token", "jwks_uri": echo.url + "/jwks",
        })  # fmt: skip

    async def anything(request: web.Request) -> web.Response:
        echo.asked += 1
        said = await _said(request)
        error = {"message": f"Incorrect API key provided: {said}", "type": "invalid_request_error"}
        body = {"error": error, "error_description": f"invalid client: {said}"}
        return web.json_response(body, status=echo.status)

    app = web.Application()
    app.router.add_get("/.well-known/openid-configuration", discovery)
    app.router.add_route("*", "/{tail:.*}", anything)
    runner = web.AppRunner(app, access_log=None)  # the test's own server: nothing to log
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield echo
    finally:
        await runner.cleanup()
