"""Moves settlements from the per-shard Redis streams into the PostgreSQL ledger.

Read with a consumer group, write one batch per transaction (COPY, then an insert that skips
request ids already present), acknowledge and delete only after the commit. A crash before
the ack leaves messages pending; they are re-read by this consumer or claimed by another
(XAUTOCLAIM) and the unique request id makes the second write a no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from gateway.stores.errors import StoreError
from gateway.stores.postgres.ledger import Ledger
from gateway.stores.records import Backlog
from gateway.stores.redis.keys import SHARDS, Keys
from gateway.stores.redis.nodes import is_cluster
from gateway.stores.redis.stream import backlog, text_of, written_total
from gateway.stores.stream_fields import ledger_row_raw
from gateway.workers.tasks import pause, raise_if_cancelling, running

log = logging.getLogger("meterway.settler")
GROUP = "settlers"
WRITE_TIMEOUT_S = 30.0
Messages = list[tuple[int, bytes, dict[bytes, bytes]]]  # (shard, message id, raw fields)
# What a lost or sick store raises; the loop backs off and retries, never dies.
TRANSIENT: tuple[type[BaseException], ...] = (
    TimeoutError,
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    RedisError,
    StoreError,
)
__all__ = ["Backlog", "Settler", "backlog", "text_of", "written_total"]  # moved to stores/


class Settler:
    def __init__(
        self,
        client: aioredis.Redis,
        keys: Keys,
        ledger: Ledger,
        *,
        batch: int = 2000,
        claim_idle_ms: int = 15_000,
        consumer: str | None = None,
    ) -> None:
        self.redis = client
        self.keys = keys
        self.ledger = ledger
        self.batch = batch
        self.claim_idle_ms = claim_idle_ms
        self.consumer = consumer or f"settler-{uuid.uuid4().hex[:12]}"
        self._own_pending = True  # re-read our own unacked messages first
        self._prefetch: asyncio.Future[Messages] | None = None
        self._shard_of_stream = {keys.stream(shard): shard for shard in range(SHARDS)}
        self.written = 0

    async def ensure_groups(self) -> None:
        for shard in range(SHARDS):
            try:
                await self.redis.xgroup_create(
                    self.keys.stream(shard), GROUP, id="0", mkstream=True
                )
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def _read(self, start: str, block_ms: int | None = None) -> Messages:
        """One XREADGROUP over every shard's stream: one command, not one per shard.

        A standalone Redis serves all 64 streams in one call. A Redis Cluster refuses a
        read across slots (even slots of one node), so there it is one XREADGROUP per
        stream, pipelined: one round trip per node, covering the shards that node owns.
        """
        count = max(1, self.batch // 8)
        if is_cluster(self.redis):
            return await self._read_per_node(start, count, block_ms)
        streams: dict[Any, Any] = {self.keys.stream(shard): start for shard in range(SHARDS)}
        reply = await self.redis.xreadgroup(
            GROUP, self.consumer, streams, count=count, block=block_ms
        )
        return self._flatten(reply)

    async def _read_per_node(self, start: str, count: int, block_ms: int | None) -> Messages:
        """Non-blocking per-stream reads (a blocked read would hold its node's pipeline);
        an idle cluster waits `block_ms` here instead of inside Redis."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for shard in range(SHARDS):
                pipe.xreadgroup(GROUP, self.consumer, {self.keys.stream(shard): start}, count=count)
            replies = await pipe.execute()
        out = [m for reply in replies for m in self._flatten(reply)]
        if not out and block_ms:
            await asyncio.sleep(block_ms / 1000)
        return out

    def _flatten(self, reply: Any) -> Messages:
        pairs = reply.items() if isinstance(reply, dict) else (reply or [])
        out: Messages = []
        for stream, entries in pairs:
            shard = self._shard_of_stream[text_of(stream)]
            out.extend((shard, msg_id, fields) for msg_id, fields in entries if fields)
        return out

    async def _claim(self) -> Messages:
        async with self.redis.pipeline(transaction=False) as pipe:
            for shard in range(SHARDS):
                pipe.xautoclaim(
                    self.keys.stream(shard),
                    GROUP,
                    self.consumer,
                    self.claim_idle_ms,
                    "0-0",
                    count=self.batch // 8,
                )
            replies = await pipe.execute()
        return [
            (shard, msg_id, fields)
            for shard, reply in enumerate(replies)
            for msg_id, fields in reply[1]
            if fields
        ]

    async def _commit(self, messages: Messages) -> int:
        rows = [ledger_row_raw(fields) for _, _, fields in messages]
        async with asyncio.timeout(WRITE_TIMEOUT_S):
            written = await self.ledger.write_settlements(rows)
        by_shard: dict[int, list[Any]] = {}
        for shard, msg_id, _ in messages:
            by_shard.setdefault(shard, []).append(msg_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            for shard, ids in by_shard.items():
                pipe.xack(self.keys.stream(shard), GROUP, *ids)
                pipe.xdel(self.keys.stream(shard), *ids)
            pipe.incrby(self.keys.settled_stat(), written)
            await pipe.execute()
        self.written += written
        return written

    async def run_once(self, claim: bool = False, block_ms: int | None = None) -> int:
        """One cycle: own pending (after a failure), stale claims, or new messages."""
        if claim:
            messages = await self._claim()
        elif self._own_pending:
            messages = await self._read("0")
            self._own_pending = bool(messages)
            if not messages:
                messages = await self._read(">")
        elif self._prefetch is not None:
            messages, self._prefetch = await self._prefetch, None
        else:
            messages = await self._read(">", block_ms)
        if not messages:
            return 0
        if len(messages) >= self.batch and not claim:
            # A full batch: read the next one while PostgreSQL writes this one.
            self._prefetch = asyncio.ensure_future(self._read(">"))
        try:
            await self._commit(messages)
        except BaseException:
            self._own_pending = True  # the batch stays pending for us: re-read it first
            await self._drop_prefetch()
            raise
        return len(messages)

    async def _drop_prefetch(self) -> None:
        """Prefetched messages are pending for us; the own-pending read will take them."""
        prefetch, self._prefetch = self._prefetch, None
        if prefetch is not None:
            with contextlib.suppress(Exception):
                await prefetch

    async def run(
        self,
        retry_min_s: float = 0.05,
        claim_every_s: float = 5.0,
        stop: asyncio.Event | None = None,
        idle_block_ms: int = 50,
        linger_s: float = 0.05,
    ) -> None:
        """Forever; a lost PostgreSQL or Redis only delays settlement, the queue waits."""
        last_claim = 0.0
        delay = retry_min_s
        groups_ok = False
        while running(stop):
            try:
                if not groups_ok:
                    await self.ensure_groups()
                    groups_ok = True
                claim = time.monotonic() - last_claim > claim_every_s
                if claim:
                    last_claim = time.monotonic()
                n = await self.run_once(claim=claim, block_ms=idle_block_ms)
                delay = retry_min_s
                if 0 < n < self.batch // 4:
                    # A thin batch: let more settlements gather rather than pay a
                    # PostgreSQL transaction per request on the gateway's own core.
                    await pause(stop, linger_s)
            except TRANSIENT as exc:
                raise_if_cancelling()
                # A flushed Redis loses the consumer groups: make them again.
                groups_ok = groups_ok and "NOGROUP" not in str(exc)
                log.warning("settler: %s; retrying in %.2fs", exc, delay)
                await pause(stop, delay)
                delay = min(delay * 2, 2.0)

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Write everything queued now (tests, shutdown, rebuild), our own pending first."""
        await self.ensure_groups()
        self._own_pending = True
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if await self.run_once():
                continue
            if (
                await self.run_once(claim=True) == 0
                and (await backlog(self.redis, self.keys)).length == 0
            ):
                return
        raise TimeoutError("settlement backlog did not drain")
