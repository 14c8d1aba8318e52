"""The lean hot-path client on a Redis Cluster: slot routing over one `WireRedis` per master.

Every hot-path script touches one shard, and every key of a shard carries its hash tag, so a
call is routed by its first key's slot (CRC16 of the tag, cached per tag) to the master that
owns it, over that node's auto-pipelined connection. Measured against redis-py's
`RedisCluster` running the same scripts (tests/bench/cluster_bench.py), this keeps the
standalone client's per-call cost; redis-py's cluster client spends several times more CPU
per call on the event loop.

Redirects: MOVED updates the slot's owner at once and schedules a full topology refresh
(CLUSTER SLOTS from any reachable node); ASK sends ASKING and the call to the importing node
in one write. A lost connection (a dead master) fails the call with WireError, since its
outcome is unknown and the caller fails closed, and marks the topology stale: the next call
asks the cluster again, so traffic moves to the promoted replica as soon as the cluster
has failed over.

A dead or silent node slows only the calls for its own slots. A call whose slot has a known
master never waits for a refresh: a stale map is refreshed in the background, once at a
time. A refresh asks every known node and seed at once and takes the first answer, so one
node that accepts connections and never answers (half-open, blackholed) costs it nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.crc import key_slot

from gateway.stores.ports.hot import SETTLE_SENT
from gateway.stores.redis.wire.resp import (
    CONNECT_TIMEOUT_S,
    REPLY_TIMEOUT_S,
    Endpoint,
    ReplyError,
    WireError,
    WireRedis,
)

SLOTS = 16384
MAX_REDIRECTS = 5
BUSY_RETRY_S = 0.05  # TRYAGAIN / CLUSTERDOWN: a resharding or failover in progress
REFRESH_MIN_INTERVAL_S = 0.1


def slot_of(key: str, cache: dict[str, int]) -> int:
    """The slot of `key`, computed once per hash tag (every Meterway key has one of 64)."""
    start = key.find("{")
    tag = key
    if start >= 0:
        end = key.find("}", start + 1)
        if end > start + 1:
            tag = key[start + 1 : end]
    slot = cache.get(tag)
    if slot is None:
        slot = key_slot(tag.encode())
        if len(cache) < 4096:
            cache[tag] = slot
    return slot


def _address(host: Any, port: Any) -> tuple[str, int]:
    text = host.decode() if isinstance(host, bytes) else str(host)
    return text, int(port)


class ClusterWire:
    """Routes each script call or single-key command to its slot's master; same contract
    as `WireRedis.evalsha` and `WireRedis.execute`."""

    def __init__(
        self,
        seeds: Sequence[Endpoint],
        *,
        timeout_s: float = REPLY_TIMEOUT_S,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
    ) -> None:
        if not seeds:
            raise ValueError("a Redis Cluster needs at least one seed node")
        self.seeds = list(seeds)
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._auth = seeds[0]
        self._owner: list[tuple[str, int] | None] = [None] * SLOTS
        self._nodes: dict[tuple[str, int], WireRedis] = {}
        self._tags: dict[str, int] = {}
        self._stale = True
        self._refreshed_at = 0.0
        self._lock = asyncio.Lock()
        self._background: asyncio.Task[None] | None = None  # the one refresh nobody waits on
        self._asking: set[asyncio.Future[Any]] = set()  # CLUSTER SLOTS still out, answer unused
        self.refreshes = 0  # topology refreshes so far, for tests and metrics
        self._scripts: dict[str, str] = {}

    def know(self, sha: str, text: str) -> None:
        """A script this client will call: every node's connections load it first."""
        self._scripts[sha] = text
        for conn in self._nodes.values():
            conn.know(sha, text)

    def node(self, address: tuple[str, int]) -> WireRedis:
        conn = self._nodes.get(address)
        if conn is None:
            e = self._auth
            endpoint = Endpoint(address[0], address[1], 0, e.password, e.username)
            conn = WireRedis(
                endpoint, timeout_s=self.timeout_s, connect_timeout_s=self.connect_timeout_s
            )
            for sha, text in self._scripts.items():
                conn.know(sha, text)
            self._nodes[address] = conn
        return conn

    async def refresh(self) -> None:
        """Learn every slot's master from the first node that answers CLUSTER SLOTS."""
        async with self._lock:
            if not self._stale and self._owner[0] is not None:
                return
            wait = REFRESH_MIN_INTERVAL_S - (time.monotonic() - self._refreshed_at)
            if wait > 0:
                await asyncio.sleep(wait)
            candidates = list(
                dict.fromkeys([*self._nodes, *((s.host, s.port) for s in self.seeds)])
            )
            asked: dict[asyncio.Future[Any], tuple[str, int]] = {
                asyncio.ensure_future(self.node(a).execute("CLUSTER", "SLOTS")): a
                for a in candidates
            }
            self._asking.update(asked)
            for one in asked:
                one.add_done_callback(self._asked)
            errors: list[str] = []
            pending: set[asyncio.Future[Any]] = set(asked)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for answered in done:
                    address = asked[answered]
                    exc = answered.exception()
                    if exc is None:
                        self._apply(answered.result(), address)
                        return
                    if not isinstance(exc, WireError | ReplyError | TimeoutError):
                        raise exc
                    errors.append(f"{address[0]}:{address[1]}: {exc}")
            raise WireError("no Redis Cluster node answered CLUSTER SLOTS: " + "; ".join(errors))

    def _asked(self, task: asyncio.Future[Any]) -> None:
        """A CLUSTER SLOTS ended: its failure, once a faster node answered, is nobody's."""
        self._asking.discard(task)
        if not task.cancelled():
            task.exception()

    def _refresh_soon(self) -> None:
        """A refresh in the background, unless one is under way; its failure leaves the map
        stale, so the next call tries again."""
        if self._background is None or self._background.done():
            self._background = asyncio.ensure_future(self._refresh_quietly())

    async def _refresh_quietly(self) -> None:
        with contextlib.suppress(WireError, ReplyError, TimeoutError):
            await self.refresh()

    async def refreshed(self) -> None:
        """Until the background refresh (if any) has ended: for tests and shutdown."""
        if self._background is not None:
            await asyncio.wait([self._background])

    def _apply(self, reply: Any, asked: tuple[str, int]) -> None:
        owner: list[tuple[str, int] | None] = [None] * SLOTS
        for start, end, master, *_ in reply:
            host, port = _address(master[0], master[1])
            address = (host or asked[0], port)  # an empty host means "the node you asked"
            for slot in range(int(start), int(end) + 1):
                owner[slot] = address
        self._owner = owner
        self._stale = False
        self._refreshed_at = time.monotonic()
        self.refreshes += 1

    async def _master(self, slot: int) -> WireRedis:
        address = self._owner[slot]
        if address is None:
            await self.refresh()
            address = self._owner[slot]
            if address is None:
                raise WireError(f"no Redis Cluster master serves slot {slot}")
        elif self._stale:
            self._refresh_soon()
        return self.node(address)

    async def evalsha(
        self, sha: str, text: str, keys: tuple[str, ...], args: tuple[Any, ...]
    ) -> Any:
        call = ("EVALSHA", sha, len(keys), *keys, *args)

        async def on(conn: WireRedis, asking: bool) -> Any:
            if not asking:
                return await conn.evalsha(sha, text, keys, args)
            try:  # ASKING must precede the call on the same connection: one write
                return await conn.execute_pair(("ASKING",), call)
            except ReplyError as exc:
                if not str(exc).startswith("NOSCRIPT"):
                    raise
            await conn.execute("SCRIPT", "LOAD", text)
            return await conn.execute_pair(("ASKING",), call)

        # A redirect (MOVED, ASK) sends the call again, to another node: the first write is
        # not yet the settle's, so a settle here is told sent by its reply (SETTLE_SENT).
        told = SETTLE_SENT.set(None)
        try:
            return await self._routed(slot_of(keys[0], self._tags) if keys else 0, on)
        finally:
            SETTLE_SENT.reset(told)

    async def execute(self, *args: Any) -> Any:
        """A single-key command (`GET key`, `HGET key field`): routed by its key, args[1]."""

        async def on(conn: WireRedis, asking: bool) -> Any:
            if asking:
                return await conn.execute_pair(("ASKING",), args)
            return await conn.execute(*args)

        return await self._routed(slot_of(str(args[1]), self._tags), on)

    async def _routed(self, slot: int, on: Callable[[WireRedis, bool], Awaitable[Any]]) -> Any:
        target: tuple[WireRedis, bool] | None = None  # where a redirect sent us, and ASK?
        last = ""
        for _ in range(MAX_REDIRECTS):
            conn, asking = target or (await self._master(slot), False)
            try:
                return await on(conn, asking)
            except WireError:
                self._stale = True  # a dead or unreachable master: ask the cluster again
                raise
            except ReplyError as exc:
                last = str(exc)
                target = await self._redirected(last, slot)
        raise WireError(f"slot {slot}: still redirected after {MAX_REDIRECTS} tries: {last}")

    async def _redirected(self, message: str, slot: int) -> tuple[WireRedis, bool] | None:
        """Act on a cluster error: the node to retry on (and whether with ASKING), or None
        to retry on the slot's master after a pause."""
        kind, _, rest = message.partition(" ")
        if kind in ("MOVED", "ASK"):
            host, _, port = rest.split(" ")[1].rpartition(":")
            address = (host, int(port))
            if kind == "ASK":
                return self.node(address), True
            self._owner[slot] = address
            self._stale = True  # more slots probably moved with it: the next call refreshes
            return self.node(address), False
        if kind in ("TRYAGAIN", "CLUSTERDOWN"):
            await asyncio.sleep(BUSY_RETRY_S)
            self._stale = True
            return None
        raise ReplyError(message)

    async def close(self) -> None:
        for task in (self._background, *self._asking):
            if task is not None:
                task.cancel()
        nodes, self._nodes = list(self._nodes.values()), {}
        for conn in nodes:
            await conn.close()
