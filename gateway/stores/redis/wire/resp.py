# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""A lean, auto-pipelining Redis connection for the two hot-path scripts.

redis-py spends more CPU per command than the reserve script costs Redis to run: pool
checkout, per-read timeouts, observability hooks. On the request path Meterway only needs
EVALSHA, so this speaks RESP directly over one asyncio connection parsed by hiredis
(commands are packed by packing.py).
Commands issued in the same event-loop turn leave in one write, and replies are matched to
callers in order, the way ioredis auto-pipelining works. Everything else (admin, settler,
sweeper) keeps using redis-py.

A connection that owes a reply and has been silent for the timeout is closed, failing
every caller waiting on it with ConnectionError; the next command reconnects. Silent, not
merely slow: a connection still answering a deep pipeline is alive however long its queue,
and a check that runs late (the event loop was starved, so replies may sit unread in the
socket) judges nothing until the loop has read them.

A Redis known down (a connect failed: refused, unanswered, or its setup unanswered) refuses
every call at once, naming why, while one connect at a time is tried in the background
(at most every RETRY_DOWN_S); the first that succeeds lets calls through again. Callers
that find no connection and Redis not known down share one connect, never queue for one
after another's.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import deque
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast
from urllib.parse import unquote, urlsplit

import hiredis
from mypy_extensions import mypyc_attr

from gateway.stores.ports.hot import SETTLE_SENT
from gateway.stores.redis.wire.packing import pack, pack_script_call

T = TypeVar("T")


@mypyc_attr(native_class=False)  # the compiled build: a builtin's subclass stays a Python class
class WireError(ConnectionError):
    """The connection failed or timed out; the command's outcome is unknown."""


class ReplyError(Exception):
    """Redis answered the command with an error."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int
    db: int
    password: str | None
    username: str | None


def parse_url(url: str) -> Endpoint | None:
    """Plain redis:// URLs only; TLS, sockets and options stay with redis-py (None)."""
    parts = urlsplit(url)
    if parts.scheme != "redis" or parts.query:
        return None
    db = int(parts.path.lstrip("/") or 0)
    return Endpoint(
        parts.hostname or "127.0.0.1",
        parts.port or 6379,
        db,
        unquote(parts.password) if parts.password else None,
        unquote(parts.username) if parts.username else None,
    )


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.waiting: deque[tuple[asyncio.Future[Any], float]] = deque()
        self.transport: asyncio.Transport | None = None
        self.outbox: list[bytes] = []
        # Futures told once what was queued before them is in the kernel (SETTLE_SENT).
        self.sent: list[asyncio.Future[None]] = []
        self.reads = 0  # data_received calls: the watchdog's sign of life
        self.why_closed = "closed by Redis"  # what connection_lost(None) means, in its error
        # Kept: on Python 3.11 every asyncio.get_running_loop() is a getpid() system call
        # (its fork check), and send() runs twice a proxied request.
        self.loop = asyncio.get_running_loop()
        self.closed = self.loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.reads += 1
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            future, _ = self.waiting.popleft()
            if future.done():
                continue
            if isinstance(reply, hiredis.ReplyError):
                future.set_exception(ReplyError(str(reply)))
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        while self.waiting:
            future, _ = self.waiting.popleft()
            if not future.done():
                future.set_exception(WireError(f"Redis connection lost: {exc or self.why_closed}"))
        if not self.closed.done():
            self.closed.set_result(None)

    def send(self, packed: bytes) -> asyncio.Future[Any]:
        loop = self.loop
        future: asyncio.Future[Any] = loop.create_future()
        if self.transport is None:
            # Lost already (between connect and this send): nothing would ever answer it.
            future.set_exception(WireError("Redis connection lost"))
            return future
        self.waiting.append((future, time.monotonic()))
        if not self.outbox:
            loop.call_soon(self.flush)
        self.outbox.append(packed)
        return future

    def flush(self) -> None:
        transport = self.transport
        if transport is not None and self.outbox:
            transport.write(b"".join(self.outbox))
        self.outbox.clear()
        # Told only when nothing is left in the transport's own buffer: a write the kernel
        # could not take whole waits for a later flush (or the settle's reply, or its error).
        if self.sent and transport is not None and not transport.get_write_buffer_size():
            for future in self.sent:
                if not future.done():
                    future.set_result(None)
            self.sent.clear()

    def overdue(self, timeout_s: float) -> bool:
        return bool(self.waiting) and time.monotonic() - self.waiting[0][1] > timeout_s


# The watchdog's period; a check later than twice it found a starved loop, not a dead peer.
WATCH_EVERY_S = 1.0

# A connect whose SYN finds Redis's accept queue full is answered only after the kernel
# resends it, 1 s and then 2 s later: at 2 s, a loaded two-core CI machine turned a busy
# moment into a 503 (the likeliest cause). A stopped Redis still refuses at once.
CONNECT_TIMEOUT_S = 5.0
STARVED_S = 0.1  # a wait this much past its due time (and past twice its length) ran late
LAST_LOOK_S = 0.05  # the short wait after a late one, before a timeout is judged
REPLY_TIMEOUT_S = 5.0  # how long a connection owing a reply may stay silent
RETRY_DOWN_S = 0.5  # a Redis known down: a connect tried in the background at most this often


async def within_running_time(future: asyncio.Future[T], timeout_s: float) -> T:
    """`future`'s result, or TimeoutError (the future cancelled) once it has waited
    `timeout_s`, judged after a wait on a loop that ran on time. uvloop runs due timers
    before it reads the sockets, so a wait that came back late (a loaded machine had not
    run this process) may have an answer unread: that wait counts only its own length, and
    when it was the last one, one short wait more lets the loop read the sockets first.
    (CI: a first connect to Redis was failed that way.) Late means over twice the wait
    and over STARVED_S past it, so the loop's own overhead on a short wait is not; each
    wait counts at least its own length, so a loop late on every turn still gives up."""
    left, owed = timeout_s, False  # owed: the last wait ran late, the sockets are unread
    try:
        while not future.done():
            if left <= 0:
                if not owed:
                    raise TimeoutError
                owed = False
                await asyncio.wait((future,), timeout=LAST_LOOK_S)
                continue
            step = min(left, WATCH_EVERY_S)
            started = time.monotonic()
            await asyncio.wait((future,), timeout=step)
            took = time.monotonic() - started
            owed = took > 2 * step and took - step > STARVED_S
            left -= step if owed else took
        return future.result()
    finally:
        if not future.done():
            future.cancel()


class WireRedis:
    def __init__(
        self,
        endpoint: Endpoint,
        *,
        timeout_s: float = REPLY_TIMEOUT_S,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
    ) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._proto: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None  # the one connect under way
        self._down = ""  # why Redis is known down ("": it is not): calls are refused at once
        # Silence is closed within 1.5 x timeout_s: it is judged from a check, every quarter.
        self._watch_s = min(WATCH_EVERY_S, timeout_s / 4)
        self._tried_at = 0.0
        self._watchdog: asyncio.TimerHandle | None = None
        self._checked_at = time.monotonic()
        self._reads_seen = -1
        self._silent_since = self._checked_at
        # sha -> text of the scripts called through this client, loaded on every new
        # connection before it carries a call (`know`).
        self._scripts: dict[str, str] = {}

    def know(self, sha: str, text: str) -> None:
        """A script this client will call: each new connection loads it first, so a Redis
        that restarted (its script cache empty) never answers a settle with NOSCRIPT. That
        settle would be sent again after SCRIPT LOAD, a round trip after its answer went
        out (SETTLE_SENT) with nothing of it in Redis yet."""
        self._scripts[sha] = text

    async def _connection(self) -> _Protocol:
        proto = self._proto
        if proto is not None and proto.transport is not None:
            return proto
        if self._down:
            self._try_in_background()
            e = self.endpoint
            raise WireError(f"Redis at {e.host}:{e.port} is down, refused at once: {self._down}")
        connecting = self._connecting
        if connecting is None:
            connecting = self._start_connect()
        return await asyncio.shield(connecting)  # a caller that leaves leaves it to the others

    async def _connect_once(self) -> _Protocol:
        """One connect, its outcome shared by every caller waiting for it: a failure marks
        Redis known down, a success clears that."""
        self._tried_at = time.monotonic()
        try:
            proto = await self._connect()
        except OSError as exc:  # WireError, or a setup reply's timeout
            self._down = str(exc) or type(exc).__name__
            raise
        except ReplyError as refused:  # AUTH or SELECT refused
            self._down = f"Redis refused the connection's setup: {refused}"
            raise
        finally:
            self._connecting = None
        self._proto, self._down = proto, ""
        return proto

    def _try_in_background(self) -> None:
        """While Redis is known down: one connect in the background, at most every
        RETRY_DOWN_S, whose failure nobody awaits."""
        if self._connecting is None and time.monotonic() - self._tried_at >= RETRY_DOWN_S:
            self._start_connect()

    def _start_connect(self) -> asyncio.Future[_Protocol]:
        connecting = self._connecting = asyncio.ensure_future(self._connect_once())
        connecting.add_done_callback(_retrieve)  # a failure its callers left is no loop error
        return connecting

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        e = self.endpoint
        connecting = asyncio.ensure_future(loop.create_connection(_Protocol, e.host, e.port))
        try:
            _, proto = await within_running_time(connecting, self.connect_timeout_s)
        except TimeoutError as silent:
            raise WireError(
                f"cannot connect to Redis at {e.host}:{e.port}: "
                f"no answer in {self.connect_timeout_s:g} s"
            ) from silent
        except OSError as exc:
            raise WireError(f"cannot connect to Redis at {e.host}:{e.port}: {exc}") from exc
        setup: list[tuple[Any, ...]] = []
        if e.password is not None:
            setup.append(("AUTH", e.username, e.password) if e.username else ("AUTH", e.password))
        if e.db:
            setup.append(("SELECT", e.db))
        setup += [("SCRIPT", "LOAD", text) for text in self._scripts.values()]
        replies = [proto.send(pack(command)) for command in setup]  # one write
        try:
            for reply in replies:
                await within_running_time(reply, self.timeout_s)
        except TimeoutError as silent:
            if proto.transport is not None:
                proto.transport.abort()
            raise WireError(
                f"Redis at {e.host}:{e.port} accepted the connection and sent no reply to its"
                f" setup in {self.timeout_s:g} s"
            ) from silent
        self._arm_watchdog()
        return proto

    def _arm_watchdog(self) -> None:
        if self._watchdog is None:
            self._checked_at = time.monotonic()
            self._watchdog = asyncio.get_running_loop().call_later(self._watch_s, self._check)

    def _check(self) -> None:
        self._watchdog = None
        proto = self._proto
        if proto is None or proto.transport is None:
            return
        now = time.monotonic()
        late = now - self._checked_at > 2 * self._watch_s
        if late or not proto.waiting or proto.reads != self._reads_seen:
            self._reads_seen = proto.reads
            self._silent_since = now
        elif now - self._silent_since > self.timeout_s and proto.overdue(self.timeout_s):
            proto.why_closed = f"no reply for {now - self._silent_since:.1f} s, closed by Meterway"
            proto.transport.abort()
            return
        self._arm_watchdog()

    async def execute(self, *args: Any) -> Any:
        proto = await self._connection()
        return await proto.send(pack(args))

    async def execute_pair(self, first: tuple[Any, ...], second: tuple[Any, ...]) -> Any:
        """Two commands in one write on this connection (ASKING and the call it permits);
        the second's reply, or the first error."""
        proto = await self._connection()
        # Both awaited, each error retrieved. Not gather: its two-argument form is typed a
        # tuple and returns a list, which the compiled build refuses.
        replies = (proto.send(pack(first)), proto.send(pack(second)))
        await asyncio.wait(replies)
        for reply in replies:
            error = reply.exception()
            if error is not None:
                raise error
        return replies[1].result()

    async def evalsha(
        self, sha: str, text: str, keys: tuple[str, ...], args: tuple[Any, ...]
    ) -> Any:
        """EVALSHA with a one-time SCRIPT LOAD when Redis does not know the script yet.
        Sent on the open connection directly: two reserve/settle calls per request, and each
        coroutine layer between the caller and the reply costs a frame."""
        proto = self._proto
        if proto is None or proto.transport is None:
            proto = await self._connection()
        reply = proto.send(pack_script_call(sha, keys, args))
        sent = SETTLE_SENT.get()
        if sent is not None and not sent.done():
            proto.sent.append(sent)
        try:
            return await reply
        except ReplyError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        await self.execute("SCRIPT", "LOAD", text)
        return await self.execute("EVALSHA", sha, len(keys), *keys, *args)

    async def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        proto, self._proto = self._proto, None
        if proto is not None and proto.transport is not None:
            proto.why_closed = "the client was closed"
            proto.transport.close()
            await proto.closed


def _retrieve(connecting: asyncio.Future[_Protocol]) -> None:
    """A background connect's failure is its caller's news only: marked, not logged again."""
    if not connecting.cancelled():
        connecting.exception()


class ScriptWire(Protocol):
    """A lean client that runs scripts: one Redis (`WireRedis`) or a cluster (`ClusterWire`)."""

    def know(self, sha: str, text: str) -> None:
        """A script this client will call (`WireRedis.know`)."""

    async def evalsha(
        self, sha: str, text: str, keys: tuple[str, ...], args: tuple[Any, ...]
    ) -> Any: ...

    async def execute(self, *args: Any) -> Any:
        """A command on one key (args[1]), or a keyless one on a single Redis."""

    async def close(self) -> None: ...


class WireScript:
    """One script by its SHA1, through whichever lean client the deployment has."""

    def __init__(self, client: ScriptWire, text: str) -> None:
        self.client = client
        self.text = text
        self.sha = hashlib.sha1(text.encode()).hexdigest()
        client.know(self.sha, text)

    def __call__(self, keys: tuple[str, ...], args: tuple[Any, ...]) -> Awaitable[Any]:
        return self.client.evalsha(self.sha, self.text, keys, args)  # no coroutine of its own
