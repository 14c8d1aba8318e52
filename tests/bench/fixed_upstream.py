"""`python -m tests.bench.fixed_upstream --port N`: the speed guard's provider, the bench's
fixed OpenAI bodies (`tests.bench.upstream`) from aiohttp instead of nginx, so the guard needs
nothing outside the test dependencies. A request with `"stream": true` gets the SSE body."""

from __future__ import annotations

import argparse
import json

import uvloop
from aiohttp import web

from tests.bench.upstream import json_body, sse_body

JSON = json_body().encode()
SSE = sse_body().encode()


async def _chat(request: web.Request) -> web.Response:
    streamed = bool(json.loads(await request.read()).get("stream"))
    if streamed:
        return web.Response(body=SSE, content_type="text/event-stream")
    return web.Response(body=JSON, content_type="application/json")


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m tests.bench.fixed_upstream")
    p.add_argument("--port", type=int, required=True)
    port = p.parse_args().port
    app = web.Application()
    app.router.add_post("/v1/chat/completions", _chat)
    uvloop.install()
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
