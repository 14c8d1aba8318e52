"""ClickHouse for the tests: the real engine (chdb, ClickHouse in-process) behind a small
server speaking ClickHouse's HTTP interface for the requests Meterway makes. A statement
comes in the `query` parameter (the database in `database`), rows for an INSERT in the
body, appended to it as ClickHouse does; an error is status 500 with
`X-ClickHouse-Exception-Code`, as ClickHouse answers. `down` makes it refuse every request
with 503, for an outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from chdb import session as chdb_session

from tests.support.harness import listen, listening_socket, port_of

_CODE = re.compile(r"Code: (\d+)")
_SESSION: Any = chdb_session.Session  # chdb's own types stop at its session
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class FakeClickHouse:
    url: str
    engine: Any  # a chdb session
    down: bool = False
    statements: list[str] = field(default_factory=list)

    def scalar(self, sql: str) -> str:
        """One value of a query, as text (the test's own look at the engine)."""
        return str(self.engine.query(sql, "CSV")).strip().strip('"')


def _handler(fake: FakeClickHouse, lock: asyncio.Lock) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        if fake.down:
            return web.Response(status=503, text="down for the test")
        query = request.query.get("query", "")
        body = await request.read()
        sql = query + ("\n" + body.decode() if body else "")
        fake.statements.append(query)
        database = request.query.get("database")
        async with lock:  # one engine, one statement at a time
            try:
                if database and not query.startswith("CREATE DATABASE"):
                    await asyncio.to_thread(fake.engine.query, f"USE {database}")
                answer = await asyncio.to_thread(fake.engine.query, sql)
            except Exception as exc:  # the engine's own error, as ClickHouse reports it
                code = _CODE.search(str(exc))
                headers = {"X-ClickHouse-Exception-Code": code[1] if code else "1000"}
                return web.Response(status=500, text=str(exc), headers=headers)
        data = answer.bytes() if hasattr(answer, "bytes") else str(answer).encode()
        return web.Response(body=data, content_type="text/plain")

    return handle


@contextlib.asynccontextmanager
async def running_clickhouse(where: Path) -> AsyncIterator[FakeClickHouse]:
    engine = _SESSION(str(where / "chdb"))
    sock = listening_socket()
    fake = FakeClickHouse(f"http://127.0.0.1:{port_of(sock)}", engine)
    app = web.Application(client_max_size=2**30)  # ClickHouse takes any insert size
    app.router.add_route("*", "/", _handler(fake, asyncio.Lock()))
    runner = web.AppRunner(app)
    await runner.setup()
    await listen(runner, sock)
    try:
        yield fake
    finally:
        await runner.cleanup()
        engine.close()
