"""Local fakes of Stripe's meter-event endpoint and of Lago's event batch endpoint, speaking
their wire formats and deduplicating the way the real services do."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.harness import listen


@dataclass
class FakeBilling:
    url: str = ""
    events: dict[str, dict[str, Any]] = field(default_factory=dict)  # identifier -> event
    posts: int = 0
    duplicates: int = 0
    fail_next: int = 0  # answer this many requests with a 500 first
    auth: list[str] = field(default_factory=list)

    def total(self, key: str = "value") -> int:
        return sum(int(e[key]) for e in self.events.values())


def _stripe_app(fake: FakeBilling) -> web.Application:
    async def meter_event(request: web.Request) -> web.Response:
        fake.posts += 1
        fake.auth.append(request.headers.get("Authorization", ""))
        if fake.fail_next:
            fake.fail_next -= 1
            return web.json_response(
                {"error": {"type": "api_error", "message": "boom"}}, status=500
            )
        form = await request.post()
        ident = str(form["identifier"])
        if ident in fake.events:
            fake.duplicates += 1
            message = f"An event already exists with identifier {ident}."
            error = {"type": "invalid_request_error", "message": message}
            return web.json_response(
                {"error": error}, status=400, headers={"stripe-should-retry": "false"}
            )
        payload = {
            "stripe_customer_id": str(form["payload[stripe_customer_id]"]),
            "value": str(form["payload[value]"]),
        }
        fake.events[ident] = {
            **payload,
            "event_name": form["event_name"],
            "timestamp": int(str(form["timestamp"])),
        }
        body = {
            "object": "billing.meter_event",
            "identifier": ident,
            "payload": payload,
            "event_name": form["event_name"],
            "timestamp": int(str(form["timestamp"])),
        }
        return web.json_response(body)

    app = web.Application()
    app.router.add_post("/v1/billing/meter_events", meter_event)
    return app


def _lago_app(fake: FakeBilling) -> web.Application:
    async def batch(request: web.Request) -> web.Response:
        fake.posts += 1
        fake.auth.append(request.headers.get("Authorization", ""))
        if fake.fail_next:
            fake.fail_next -= 1
            return web.json_response({"status": 500, "error": "Internal Server Error"}, status=500)
        body = json.loads(await request.read())
        assert len(body["events"]) <= 100
        out = []
        for event in body["events"]:
            if event["transaction_id"] in fake.events:
                fake.duplicates += 1  # Lago keeps the first event of a transaction_id
                continue
            fake.events[event["transaction_id"]] = {**event, **event["properties"]}
            out.append({**event, "lago_id": event["transaction_id"]})
        return web.json_response({"events": out})

    app = web.Application()
    app.router.add_post("/api/v1/events/batch", batch)
    return app


@asynccontextmanager
async def running_fake(kind: str) -> AsyncIterator[FakeBilling]:
    fake = FakeBilling()
    app = _stripe_app(fake) if kind == "stripe" else _lago_app(fake)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = await listen(runner)
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        await runner.cleanup()
