"""A client that leaves mid-request: its handler is cancelled (as aiohttp's
handler_cancellation would), unless the handler set CLIENT_LEFT, whose callback then runs
instead and the handler runs on (how an admitted metered call outlives its client)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from gateway.http.server import CLIENT_LEFT, GatewayRunner, start_sites
from tests.support.harness import free_port, gateway_settings


@dataclass
class Seen:
    started: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Future[str] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    hook: list[asyncio.Task[None]] = field(default_factory=list)


def _app(seen: Seen) -> web.Application:
    async def slow(request: web.Request) -> web.Response:
        if request.query.get("outlive") == "1":
            request[CLIENT_LEFT] = lambda _request, task: seen.hook.append(task)
        seen.started.set()
        try:
            await asyncio.sleep(0.5)
        except asyncio.CancelledError:
            seen.ended.set_result("cancelled")
            raise
        seen.ended.set_result("finished")
        return web.Response(text="done")

    app = web.Application()
    app.router.add_get("/slow", slow)
    return app


@pytest.fixture
async def served(dsn: str) -> AsyncIterator[tuple[str, Seen]]:
    seen = Seen()
    port = free_port()
    settings = gateway_settings(
        dsn, "http://127.0.0.1:1", "mwtleft", LISTEN_ADDR=f"127.0.0.1:{port}"
    )
    runner = GatewayRunner(_app(seen), settings)
    await runner.setup()
    await start_sites(runner, settings)
    yield f"127.0.0.1:{port}", seen
    await runner.cleanup()


async def _ask_and_leave(address: str, seen: Seen, path: str) -> str:
    host, port = address.split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"GET {path} HTTP/1.1\r\nHost: gw\r\n\r\n".encode())
    await writer.drain()
    await asyncio.wait_for(seen.started.wait(), 5)
    writer.close()  # gone while the handler sleeps
    await writer.wait_closed()
    return await asyncio.wait_for(seen.ended, 5)


async def test_a_handler_is_cancelled_when_its_client_leaves(served: tuple[str, Seen]) -> None:
    address, seen = served
    assert await _ask_and_leave(address, seen, "/slow") == "cancelled"
    assert seen.hook == []


async def test_a_handler_that_set_client_left_runs_on_and_is_told(
    served: tuple[str, Seen],
) -> None:
    address, seen = served
    assert await _ask_and_leave(address, seen, "/slow?outlive=1") == "finished"
    assert len(seen.hook) == 1 and isinstance(seen.hook[0], asyncio.Task)
