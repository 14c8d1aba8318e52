# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""A lean HTTP/1.1 client for the metered call: keep-alive connections per origin, one write
per request, aiohttp's own C response parser and stream reader for the answer.

Why not aiohttp's ClientSession here: for one POST it builds a request object, header
multidicts, a payload object, a writer task, cookie and redirect bookkeeping and several
timers, a fifth of the gateway's CPU per request. This joins the head once, writes head and
body together, and hands back aiohttp's `StreamReader` fed by aiohttp's `ResponseHandler`,
so the answer is read, flow-controlled and failed exactly as before (ClientPayloadError when
a body is cut, ServerDisconnectedError when no answer comes, ServerTimeoutError at a
deadline): the callers' error mapping is unchanged.

Semantics kept from the session it replaces: no redirects, no proxy from the environment,
no decompression, a response without a length is read to EOF, 1xx answers are skipped, a
POST is never retried (it may have reached the provider), a connection idle longer than
KEEPALIVE_S is closed rather than reused, and a total deadline covers the whole exchange.

`ResponseHandler` is aiohttp's client protocol, not a documented API: if an aiohttp release
changes it, tests/integration/test_upstream_http1.py is where that shows.
"""

from __future__ import annotations

import asyncio
import collections
import socket
import ssl
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, cast
from urllib.parse import urlsplit

import aiohappyeyeballs
from aiohttp import ServerTimeoutError
from aiohttp.client_proto import ResponseHandler
from aiohttp.streams import StreamReader
from multidict import CIMultiDictProxy

KEEPALIVE_S = 15.0
HAPPY_EYEBALLS_DELAY_S = 0.25  # aiohttp's: the next address is tried this soon (RFC 8305)
# Bodies above this are written after the head rather than joined to it (no copy).
JOIN_BODY_BYTES = 16 * 1024
USER_AGENT = "meterway"


class CannotConnect(Exception):
    """No connection could be opened (refused, unresolvable, TLS failed, connect timeout):
    the request never left."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a base URL's requests go: scheme, host and port, the Host header, the path prefix."""

    tls: bool
    host: str
    port: int
    authority: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> Origin:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        tls = parts.scheme == "https"
        port = parts.port or (443 if tls else 80)
        host = parts.hostname
        shown = f"[{host}]" if ":" in host else host
        authority = shown if port == (443 if tls else 80) else f"{shown}:{port}"
        return cls(tls, host, port, authority, parts.path.rstrip("/"))


def request_head(
    method: str, target: str, authority: str, headers: dict[str, str], size: int
) -> bytes:
    """The request line and headers; a CR or LF in any header would split the request."""
    lines = [f"{method} {target} HTTP/1.1\r\nhost: {authority}\r\nuser-agent: {USER_AGENT}\r\n"]
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError(f"header {name!r} holds a line break")
        lines.append(f"{name}: {value}\r\n")
    lines.append(f"content-length: {size}\r\n\r\n")
    return "".join(lines).encode("utf-8")


class Exchange(Protocol):
    """What an open answer gives back when it is done: its connection, kept or dropped."""

    def release(self) -> None: ...

    def abort(self) -> None: ...


class Answer:
    """An open answer: `status`, `headers` and `content` (aiohttp's StreamReader). Leaving
    `async with` returns the connection to its pool when the body was read to its end, and
    closes it otherwise; `close()` drops it at once."""

    __slots__ = ("_exchange", "content", "headers", "status")

    def __init__(
        self,
        status: int,
        headers: CIMultiDictProxy[str],
        content: StreamReader,
        exchange: Exchange,
    ) -> None:
        self.status = status
        self.headers = headers
        self.content = content
        self._exchange = exchange

    async def __aenter__(self) -> Answer:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._exchange.release()

    def close(self) -> None:
        self._exchange.abort()


class _Exchange:
    """One request on one connection, and its deadline timer (one handle: the first-byte
    deadline, moved on to the total deadline if it fires after the head arrived)."""

    __slots__ = ("conn", "deadline", "origin", "owner", "payload", "timer")

    def __init__(self, owner: Pool, origin: Origin, conn: ResponseHandler, deadline: float) -> None:
        self.owner = owner
        self.origin = origin
        self.conn: ResponseHandler | None = conn
        self.payload: StreamReader | None = None
        self.deadline = deadline
        self.timer: asyncio.TimerHandle | None = None

    def _expire(self) -> None:
        conn, self.timer = self.conn, None
        if conn is None:
            return
        if self.payload is not None and self.payload.is_eof():
            return  # the whole body arrived: nothing left to time out
        if self.payload is not None and self.owner.loop.time() < self.deadline:
            self.timer = self.owner.loop.call_at(self.deadline, self._expire)
            return
        exc = ServerTimeoutError("The provider did not answer in time")
        if self.payload is None:
            conn.set_exception(exc)
        else:
            self.payload.set_exception(exc)
        self.abort()  # closed now, not at release: an answer never released holds no socket

    def _stop(self) -> ResponseHandler | None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        conn, self.conn = self.conn, None
        return conn

    def release(self) -> None:
        conn = self._stop()
        if conn is not None:
            self.owner.give_back(self.origin, conn)

    def abort(self) -> None:
        conn = self._stop()
        if conn is not None:
            conn.close()


class Pool:
    """Keep-alive connections per origin, reused last-in first-out (the warmest first)."""

    def __init__(
        self,
        *,
        connect_timeout_s: float,
        total_timeout_s: float,
        ssl_context: ssl.SSLContext | None = None,
        keepalive_s: float = KEEPALIVE_S,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.connect_timeout_s = connect_timeout_s
        self.total_timeout_s = total_timeout_s
        self._ssl_context = ssl_context
        self.keepalive_s = keepalive_s
        self._idle: dict[Origin, collections.deque[tuple[float, ResponseHandler]]] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        self.opened = 0  # connections opened, for tests and curiosity

    async def request(
        self,
        origin: Origin,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        first_byte_s: float,
    ) -> Answer:
        """Send one request and return once its head arrived. Raises CannotConnect, TimeoutError
        (ServerTimeoutError) or another aiohttp.ClientError."""
        now = self.loop.time()
        conn = self._reuse(origin, now)
        if conn is None:  # not `or`: a ResponseHandler is a queue, falsy when empty
            conn = await self._connect(origin)
        head = request_head(method, origin.prefix + path, origin.authority, headers, len(body))
        exchange = _Exchange(self, origin, conn, now + self.total_timeout_s)
        exchange.timer = self.loop.call_at(
            min(now + first_byte_s, exchange.deadline), exchange._expire
        )
        try:
            _write(conn, head, body)
            # Any: aiohttp's C parser answers a message that is no tuple, which its stubs say
            # it is, and a compiled build (setup.py) would check what it is told.
            message, payload = await cast(Any, conn).read()
            while 100 <= message.code < 200 and message.code != 101:
                message, payload = await cast(Any, conn).read()
        except BaseException:
            exchange.abort()
            raise
        exchange.payload = payload
        return Answer(message.code, message.headers, payload, exchange)

    def _reuse(self, origin: Origin, now: float) -> ResponseHandler | None:
        idle = self._idle.get(origin)
        while idle:
            since, conn = idle.pop()
            if conn.is_connected() and not conn.should_close and now - since < self.keepalive_s:
                return conn
            conn.close()
        return None

    async def _connect(self, origin: Origin) -> ResponseHandler:
        loop = self.loop
        tls = self._tls() if origin.tls else None
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                found = await loop.getaddrinfo(origin.host, origin.port, type=socket.SOCK_STREAM)
                sock = await aiohappyeyeballs.start_connection(
                    found, happy_eyeballs_delay=HAPPY_EYEBALLS_DELAY_S, interleave=1, loop=loop
                )
                try:
                    _, conn = await loop.create_connection(
                        lambda: ResponseHandler(loop),
                        sock=sock,
                        ssl=tls,
                        server_hostname=origin.host if tls else None,
                    )
                except BaseException:
                    sock.close()
                    raise
        except (OSError, TimeoutError) as exc:
            raise CannotConnect(f"{origin.authority}: {exc or type(exc).__name__}") from exc
        conn.set_response_params(read_until_eof=True, auto_decompress=False)
        self.opened += 1
        return conn

    def _tls(self) -> ssl.SSLContext:
        if self._ssl_context is None:  # built once: loading the CA store takes milliseconds
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context

    def give_back(self, origin: Origin, conn: ResponseHandler) -> None:
        if not conn.is_connected() or conn.should_close:
            conn.close()
            return
        self._idle.setdefault(origin, collections.deque()).append((self.loop.time(), conn))
        if self._sweeper is None:
            self._sweeper = self.loop.call_later(self.keepalive_s, self._sweep)

    def _sweep(self) -> None:
        """Close connections idle past keep-alive (oldest sit at the left); runs while any
        connection is idle, so a quiet gateway lets its providers' sockets go."""
        self._sweeper = None
        oldest = self.loop.time() - self.keepalive_s
        for idle in self._idle.values():
            while idle and (idle[0][0] <= oldest or not idle[0][1].is_connected()):
                idle.popleft()[1].close()
        if any(self._idle.values()):
            self._sweeper = self.loop.call_later(self.keepalive_s, self._sweep)

    def idle(self, origin: Origin) -> int:
        return len(self._idle.get(origin, ()))

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for idle in self._idle.values():
            while idle:
                idle.pop()[1].close()


def _write(conn: ResponseHandler, head: bytes, body: bytes) -> None:
    transport = conn.transport
    if transport is None or transport.is_closing():
        raise CannotConnect("the connection closed before the request was written")
    if len(body) <= JOIN_BODY_BYTES:
        transport.write(head + body)
    else:
        transport.writelines((head, body))
