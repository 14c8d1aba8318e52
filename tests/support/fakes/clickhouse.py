"""ClickHouse for the tests: the real engine (chdb, ClickHouse in-process) behind a small
server answering as clickhouse-server's HTTP interface does for the requests Meterway makes
(tests/integration/test_clickhouse_wire.py pins each answer to the server's documentation
and source):

- a statement in the `query` parameter, an INSERT's rows in the body, appended to it;
- the current database from the `database` parameter or the `X-ClickHouse-Database` header,
  `default` when neither names one, set for each request before the statement is parsed: a
  database that does not exist is Code 81 (UNKNOWN_DATABASE), status 404, whatever the
  statement (`CREATE DATABASE` included);
- an answer with no FORMAT clause in TabSeparated;
- an error as status `exceptionCodeToHTTPStatus` gives its code (src/Server/HTTP/
  exceptionCodeToHTTPStatus.cpp), the code in `X-ClickHouse-Exception-Code`, the message
  in the body.

For the failure cases: `down` answers every request 503 (a load balancer with no server
behind it), `read_only` refuses every INSERT with Code 164 (READONLY) and answers the rest,
`hang()` holds every request unanswered until `hang(False)`. `replace()` swaps the engine for
an empty one: a new server, or a lost volume.
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
# exceptionCodeToHTTPStatus, for the codes the engine can give Meterway's statements.
_NOT_FOUND = {46: "UNKNOWN_FUNCTION", 47: "UNKNOWN_IDENTIFIER", 50: "UNKNOWN_TYPE",
              56: "UNKNOWN_STORAGE", 60: "UNKNOWN_TABLE", 73: "UNKNOWN_FORMAT",
              81: "UNKNOWN_DATABASE", 115: "UNKNOWN_SETTING"}  # fmt: skip
_BAD_REQUEST = {6: "CANNOT_PARSE_TEXT", 8: "THERE_IS_NO_COLUMN",
                27: "CANNOT_PARSE_INPUT_ASSERTION_FAILED", 36: "BAD_ARGUMENTS",
                53: "TYPE_MISMATCH", 62: "SYNTAX_ERROR", 117: "INCORRECT_DATA"}  # fmt: skip
READONLY = 164
# URL parameters the HTTP handler reads itself (HTTPHandler.cpp); any other is a setting,
# and a name that is none is Code 115 (UNKNOWN_SETTING).
_HANDLER_PARAMS = {"query", "database", "default_format", "user", "password", "quota_key",
                   "query_id", "session_id", "session_timeout", "session_check", "compress",
                   "decompress", "buffer_size", "wait_end_of_query"}  # fmt: skip


def http_status(code: int) -> int:
    """The status clickhouse-server answers an exception with this code with."""
    return 404 if code in _NOT_FOUND else 400 if code in _BAD_REQUEST else 500


@dataclass
class FakeClickHouse:
    url: str
    engine: Any  # a chdb session
    where: Path
    down: bool = False
    read_only: bool = False
    statements: list[str] = field(default_factory=list)
    params: list[dict[str, str]] = field(default_factory=list)  # each request's, in order
    generation: int = 0
    answering: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.answering.set()

    def fail(self, how: str, on: bool = True) -> None:
        """Start (or end) a failure by name: "down", "read_only" or "hung"."""
        if how == "hung":
            self.hang(on)
        else:
            setattr(self, how, on)

    def hang(self, hung: bool = True) -> None:
        """Hold every request unanswered (and those already held) until `hang(False)`."""
        if hung:
            self.answering.clear()
        else:
            self.answering.set()

    def scalar(self, sql: str) -> str:
        """One value of a query, as text (the test's own look at the engine)."""
        return str(self.engine.query(sql, "CSV")).strip().strip('"')

    def replace(self) -> None:
        """A new, empty server at the same address: a replaced host or a lost volume."""
        self.engine.close()
        self.generation += 1
        self.engine = _SESSION(str(self.where / f"chdb-{self.generation}"))


def _error(code: int, message: str) -> web.Response:
    headers = {"X-ClickHouse-Exception-Code": str(code)}
    return web.Response(status=http_status(code), text=message + "\n", headers=headers)


def _run(fake: FakeClickHouse, database: str, sql: str) -> bytes:
    fake.engine.query(f"USE {database}")  # before the statement, as the server sets it
    answer = fake.engine.query(sql, "TabSeparated")
    return bytes(answer.bytes()) if hasattr(answer, "bytes") else str(answer).encode()


def _handler(fake: FakeClickHouse, lock: asyncio.Lock) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        await fake.answering.wait()
        if fake.down:
            return web.Response(status=503, text="down for the test")
        query = request.query.get("query", "")
        body = await request.read()
        fake.statements.append(query)
        fake.params.append(dict(request.query))
        unknown = sorted(set(request.query) - _HANDLER_PARAMS)
        if unknown:  # the fake knows no settings passed this way: none of Meterway's are
            return _error(115, f"Code: 115. DB::Exception: Unknown setting '{unknown[0]}'."
                          " (UNKNOWN_SETTING)")  # fmt: skip
        if fake.read_only and query.lstrip().upper().startswith("INSERT"):
            return _error(READONLY, "Code: 164. DB::Exception: Cannot execute query in"
                          " readonly mode. (READONLY)")  # fmt: skip
        database = request.query.get("database") or request.headers.get("X-ClickHouse-Database")
        sql = query + ("\n" + body.decode() if body else "")
        async with lock:  # one engine, one statement at a time
            try:
                data = await asyncio.to_thread(_run, fake, database or "default", sql)
            except Exception as exc:  # the engine's own error, as ClickHouse reports it
                code = _CODE.search(str(exc))
                return _error(int(code[1]) if code else 1001, str(exc))
        return web.Response(body=data, content_type="text/tab-separated-values")

    return handle


@contextlib.asynccontextmanager
async def running_clickhouse(where: Path) -> AsyncIterator[FakeClickHouse]:
    engine = _SESSION(str(where / "chdb"))
    sock = listening_socket()
    fake = FakeClickHouse(f"http://127.0.0.1:{port_of(sock)}", engine, where)
    app = web.Application(client_max_size=2**30)  # ClickHouse takes any insert size
    app.router.add_route("*", "/", _handler(fake, asyncio.Lock()))
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    await listen(runner, sock)
    try:
        yield fake
    finally:
        fake.hang(False)
        await runner.cleanup()
        fake.engine.close()
