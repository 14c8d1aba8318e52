"""The ceiling: an aiohttp + uvloop pass-through proxy with no auth and no billing.

`python -m tests.bench.bare_proxy --listen 127.0.0.1:8001 --upstream http://127.0.0.1:8000`
forwards every POST path unchanged, relays the body (streamed when it is an event stream),
and does nothing else, so Meterway's cost is measured against the cheapest honest proxy.

`--redis URL` makes it the floor instead: the same proxy plus two round trips to
Redis per request, one before forwarding and one after the answer (after the stream's end),
each an EVALSHA of a script that does nothing, through Meterway's own lean RESP client. Those
are the two round trips no metering gateway that reserves before forwarding and debits before
delivering can skip; what Meterway costs beyond this arm is its own work (auth, windows,
pricing, settlement, ledger).
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Callable

import aiohttp
import uvloop
from aiohttp import web

from gateway.stores.redis.wire.resp import WireRedis, WireScript, parse_url

UPSTREAM = web.AppKey("upstream", str)
SESSION = web.AppKey("session", aiohttp.ClientSession)
HOP = web.AppKey("hop", WireScript)
FORWARDED = ("openai-organization",)
NOTHING = "return 1"


async def _hops(request: web.Request) -> None:
    hop = request.app.get(HOP)
    if hop is not None:
        await hop((), ())


async def _session(app: web.Application) -> AsyncIterator[None]:
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
    app[SESSION] = aiohttp.ClientSession(connector=connector, auto_decompress=False)
    yield
    await app[SESSION].close()


async def forward(request: web.Request) -> web.StreamResponse:
    headers = {"content-type": "application/json", "accept-encoding": "identity"}
    headers.update({h: request.headers[h] for h in FORWARDED if h in request.headers})
    body = await request.read()
    await _hops(request)
    url = request.app[UPSTREAM] + request.path
    async with request.app[SESSION].post(url, data=body, headers=headers) as resp:
        ctype = resp.headers.get("content-type", "application/json")
        if not ctype.startswith("text/event-stream"):
            answer = await resp.read()
            await _hops(request)
            return web.Response(status=resp.status, body=answer, content_type=ctype)
        out = web.StreamResponse(status=resp.status, headers={"content-type": ctype})
        await out.prepare(request)
        async for chunk in resp.content.iter_any():
            await out.write(chunk)
        await _hops(request)
        await out.write_eof()
        return out


def _redis(url: str) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        endpoint = parse_url(url)
        if endpoint is None:
            raise SystemExit(f"--redis: not a redis:// URL: {url}")
        client = WireRedis(endpoint)
        app[HOP] = WireScript(client, NOTHING)
        await app[HOP]((), ())  # loads the script before the first request
        yield
        await client.close()

    return ctx


def create_app(upstream: str, redis_url: str | None = None) -> web.Application:
    app = web.Application()
    app[UPSTREAM] = upstream.rstrip("/")
    app.cleanup_ctx.append(_session)
    if redis_url is not None:
        app.cleanup_ctx.append(_redis(redis_url))
    app.router.add_post("/{tail:.*}", forward)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", default="127.0.0.1:8001")
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--redis", help="the floor: two round trips per request to this Redis")
    parser.add_argument("--reuse-port", action="store_true", help="share the port (SO_REUSEPORT)")
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    web.run_app(
        create_app(args.upstream, args.redis),
        host=host,
        port=int(port),
        access_log=None,
        print=None,
        backlog=4096,
        reuse_port=args.reuse_port,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()
