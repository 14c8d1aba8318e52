"""A local receiver of Meterway's notification webhooks that checks every signature."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.harness import listen

SECRET = "whsec-test-0123456789abcdef"


@dataclass
class Sink:
    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[str] = field(default_factory=list)  # every attempt, retries included
    bad_signatures: int = 0
    fail_next: int = 0
    secret: str = SECRET  # a person's alert signs with its own secret

    def events(self, account_id: str) -> list[dict[str, Any]]:
        return [e for e in self.received if e["account_id"] == account_id]


def _valid(request: web.Request, body: bytes, secret: str) -> bool:
    ts = request.headers["Meterway-Timestamp"]
    expected = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    given = request.headers["Meterway-Signature"].removeprefix("v1=")
    return hmac.compare_digest(expected, given) and abs(time.time() - int(ts)) < 300


@asynccontextmanager
async def webhook_sink() -> AsyncIterator[Sink]:
    sink = Sink()

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        sink.deliveries.append(request.headers["Meterway-Delivery"])
        if not _valid(request, body, sink.secret):
            sink.bad_signatures += 1
            return web.Response(status=400)
        if sink.fail_next:
            sink.fail_next -= 1
            return web.Response(status=503)
        event = json.loads(body)
        assert event["id"] == request.headers["Meterway-Delivery"]
        assert event["type"] == request.headers["Meterway-Event"]
        sink.received.append(event)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hooks", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = await listen(runner)
    sink.url = f"http://127.0.0.1:{port}/hooks"
    try:
        yield sink
    finally:
        await runner.cleanup()
