"""The ceiling: an aiohttp + uvloop pass-through proxy with no auth and no billing.

`python -m tests.bench.bare_proxy --listen 127.0.0.1:8001 --upstream http://127.0.0.1:8000`
forwards every POST path unchanged, relays the body (streamed when it is an event stream),
and does nothing else, so Meterway's cost is measured against the cheapest honest proxy.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator

import aiohttp
import uvloop
from aiohttp import web

UPSTREAM = web.AppKey("upstream", str)
SESSION = web.AppKey("session", aiohttp.ClientSession)
FORWARDED = ("openai-organization",)


async def _session(app: web.Application) -> AsyncIterator[None]:
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
    app[SESSION] = aiohttp.ClientSession(connector=connector, auto_decompress=False)
    yield
    await app[SESSION].close()


async def forward(request: web.Request) -> web.StreamResponse:
    headers = {"content-type": "application/json", "accept-encoding": "identity"}
    headers.update({h: request.headers[h] for h in FORWARDED if h in request.headers})
    body = await request.read()
    url = request.app[UPSTREAM] + request.path
    async with request.app[SESSION].post(url, data=body, headers=headers) as resp:
        ctype = resp.headers.get("content-type", "application/json")
        if not ctype.startswith("text/event-stream"):
            return web.Response(status=resp.status, body=await resp.read(), content_type=ctype)
        out = web.StreamResponse(status=resp.status, headers={"content-type": ctype})
        await out.prepare(request)
        async for chunk in resp.content.iter_any():
            await out.write(chunk)
        await out.write_eof()
        return out


def create_app(upstream: str) -> web.Application:
    app = web.Application()
    app[UPSTREAM] = upstream.rstrip("/")
    app.cleanup_ctx.append(_session)
    app.router.add_post("/{tail:.*}", forward)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", default="127.0.0.1:8001")
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    web.run_app(
        create_app(args.upstream),
        host=host,
        port=int(port),
        access_log=None,
        print=None,
        backlog=4096,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()
