"""The settlement streams as the settler's queue (`stores.ports.SettlementStream`).

One consumer group over the 64 shard streams. A standalone Redis serves a read of all of them
in one XREADGROUP; a Redis Cluster refuses a read across slots (even slots of one node), so
there it is one XREADGROUP per stream, pipelined: one round trip per node. Messages the ledger
cannot take move to their shard's dead-letter stream (same slot) by one script.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Mapping, Sequence
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from gateway.stores.records import Backlog, DeadLetter, Queued
from gateway.stores.redis.errors import map_redis_errors, unavailable
from gateway.stores.redis.keys import SHARDS, Keys, shard_of
from gateway.stores.redis.stream import backlog, parked_count, stream_entries, text_of
from gateway.stores.redis.wire.nodes import is_cluster
from gateway.stores.redis.wire.scripts import load_script
from gateway.stores.stream_fields import named

GROUP = "settlers"
DEAD_FIELDS = (b"x-reason", b"x-id", b"x-at")  # what dead_letter.lua adds to a message


def default_consumer() -> str:
    """Host and process id: never shared by two live settlers (a shared name would make
    each re-read the other's pending messages), readable in XINFO, and stable where a
    container's host name and pid are. Names of settlers that are gone are removed by
    `forget_idle_consumers` once nothing is pending for them."""
    return f"settler-{socket.gethostname()}-{os.getpid()}"


class RedisSettlementStream:
    def __init__(self, client: aioredis.Redis, keys: Keys, consumer: str | None = None) -> None:
        self.redis = client
        self.keys = keys
        self.consumer = consumer or default_consumer()
        self._stream_shard = {keys.stream(shard): shard for shard in range(SHARDS)}
        self._dead_letter = load_script(client, "dead_letter")
        self._requeue = load_script(client, "requeue")
        self._ack_all = load_script(client, "ack")

    async def ensure_groups(self) -> None:
        """Every shard's group, in one pipelined round trip (a gateway starts with this)."""
        calls = [
            ("XGROUP CREATE", self.keys.stream(s), GROUP, "0", "MKSTREAM") for s in range(SHARDS)
        ]
        for reply in await self._each(calls):
            if isinstance(reply, RedisError) and "BUSYGROUP" not in str(reply):
                raise unavailable(reply)  # BUSYGROUP: it exists, as it should

    async def _each(self, calls: Sequence[tuple[str, ...]]) -> list[Any]:
        """One pipeline (a round trip per node on a cluster); a command's error is its reply,
        a lost connection raises HotStoreUnavailable."""
        with map_redis_errors():
            async with self.redis.pipeline(transaction=False) as pipe:
                for call in calls:
                    pipe.execute_command(*call)
                return await pipe.execute(raise_on_error=False)

    async def read(self, count: int, *, pending: bool, block_ms: int | None = None) -> list[Queued]:
        start = "0" if pending else ">"
        with map_redis_errors():
            if is_cluster(self.redis):
                return await self._read_per_node(start, count, block_ms)
            streams: dict[Any, Any] = {self.keys.stream(s): start for s in range(SHARDS)}
            reply = await self.redis.xreadgroup(
                GROUP, self.consumer, streams, count=count, block=block_ms
            )
        return self._flatten(reply)

    async def _read_per_node(self, start: str, count: int, block_ms: int | None) -> list[Queued]:
        """Non-blocking per-stream reads (a blocked read would hold its node's pipeline);
        an idle cluster waits `block_ms` here instead of inside Redis.

        Each read goes to its stream's node as the client's slot map names it: left to
        find the node itself, redis-py sends Redis two `COMMAND` calls for every XREADGROUP
        (its keys follow STREAMS: `COMMAND GETKEYS`), one round trip after another, 128 a
        read. A
        map that is out of date (a failover, a slot moved) fails the read, and the read
        is made once more the slow way, which redirects and refreshes the map."""
        try:
            replies = await self._reads(start, count, routed=True)
        except RedisError:
            replies = await self._reads(start, count, routed=False)
        out = [m for reply in replies for m in self._flatten(reply)]
        if not out and block_ms:
            await asyncio.sleep(block_ms / 1000)
        return out

    async def _reads(self, start: str, count: int, *, routed: bool) -> list[Any]:
        """One XREADGROUP per shard stream, pipelined; `routed`: each sent to the node the
        slot map names, else found by redis-py."""
        cluster = cast(RedisCluster, self.redis)
        async with cluster.pipeline(transaction=False) as pipe:
            for shard in range(SHARDS):
                stream = self.keys.stream(shard)
                node = {"target_nodes": cluster.get_node_from_key(stream)} if routed else {}
                pipe.execute_command(
                    "XREADGROUP", "GROUP", GROUP, self.consumer, "COUNT", count,
                    "STREAMS", stream, start, **node,
                )  # fmt: skip
            return list(await pipe.execute())

    def _flatten(self, reply: Any) -> list[Queued]:
        pairs = reply.items() if isinstance(reply, dict) else (reply or [])
        out: list[Queued] = []
        for stream, entries in pairs:
            shard = self._stream_shard[text_of(stream)]
            out.extend(Queued(shard, text_of(i), fields) for i, fields in entries if fields)
        return out

    async def claim_stale(self, idle_ms: int, count: int) -> list[Queued]:
        with map_redis_errors():
            async with self.redis.pipeline(transaction=False) as pipe:
                for shard in range(SHARDS):
                    stream = self.keys.stream(shard)
                    pipe.xautoclaim(stream, GROUP, self.consumer, idle_ms, "0-0", count=count)
                replies = await pipe.execute()
        return [
            Queued(shard, text_of(i), fields)
            for shard, reply in enumerate(replies)
            for i, fields in reply[1]
            if fields
        ]

    async def ack(self, messages: Sequence[Queued], written: int) -> None:
        by_shard: dict[int, list[str]] = {}
        for m in messages:
            by_shard.setdefault(m.shard, []).append(m.message_id)
        if not by_shard and not written:
            return
        with map_redis_errors():
            if not is_cluster(self.redis):
                await self._ack_all(*ack_call(self.keys, by_shard, written))
                return
            async with self.redis.pipeline(transaction=False) as pipe:
                for shard, ids in by_shard.items():
                    pipe.xack(self.keys.stream(shard), GROUP, *ids)
                    pipe.xdel(self.keys.stream(shard), *ids)
                if written:
                    pipe.incrby(self.keys.settled_stat(), written)
                await pipe.execute()

    async def dead_letter(self, message: Queued, reason: str) -> bool:
        keys = (self.keys.stream(message.shard), self.keys.dead_letters(message.shard))
        args = (GROUP, message.message_id, reason[:1000], int(time.time() * 1000))
        with map_redis_errors():
            return int(await self._dead_letter(keys, args)) == 1

    async def backlog(self) -> Backlog:
        with map_redis_errors():
            return await backlog(self.redis, self.keys)

    async def dead_letter_count(self) -> int:
        with map_redis_errors():
            return await parked_count(self.redis, self.keys)

    async def dead_letters(self, limit: int = 1000) -> list[DeadLetter]:
        out: list[DeadLetter] = []
        for shard in range(SHARDS):
            async for entry_id, f in stream_entries(self.redis, self.keys.dead_letters(shard)):
                out.append(_dead_letter(shard, entry_id, f))
                if len(out) >= limit:
                    return out
        return out

    async def requeue(self, entry_ids: Sequence[str] | None = None) -> int:
        wanted = None if entry_ids is None else set(entry_ids)
        moved = 0
        for letter in await self.dead_letters(limit=1_000_000):
            if wanted is not None and letter.entry_id not in wanted:
                continue
            s = letter.shard
            # An unreadable account id still names a key of this slot (one that is absent).
            readable = shard_of(letter.account_id) == s
            account = self.keys.account(s, letter.account_id if readable else "")
            keys = (self.keys.stream(s), self.keys.dead_letters(s), account)
            with map_redis_errors():
                moved += await self._requeue(keys, (letter.entry_id,)) is not None
        return moved

    async def forget_idle_consumers(self, idle_ms: int) -> int:
        streams = [self.keys.stream(shard) for shard in range(SHARDS)]
        replies = await self._each([("XINFO CONSUMERS", stream, GROUP) for stream in streams])
        removed = 0
        for stream, consumers in zip(streams, replies, strict=True):
            if isinstance(consumers, RedisError):
                if "NOGROUP" in str(consumers):  # nothing to tidy on this shard yet
                    continue
                raise unavailable(consumers)
            for c in consumers:
                name = text_of(c["name"])
                if name != self.consumer and int(c["pending"]) == 0 and int(c["idle"]) > idle_ms:
                    with map_redis_errors():  # replies its pending count: 0, as checked
                        await self.redis.xgroup_delconsumer(stream, GROUP, name)
                    removed += 1
        return removed


def ack_call(
    keys: Keys, by_shard: Mapping[int, Sequence[str]], written: int
) -> tuple[list[str], list[object]]:
    """ack.lua's KEYS and ARGV: the streams and the counter; the group, the rows written,
    then each stream's id count and ids."""
    names = [keys.stream(shard) for shard in by_shard]
    args: list[object] = [GROUP, written]
    for ids in by_shard.values():
        args.append(len(ids))
        args.extend(ids)
    return [*names, keys.settled_stat()], args


def _dead_letter(shard: int, entry_id: str, f: Mapping[Any, Any]) -> DeadLetter:
    fields = named({k: v for k, v in f.items() if k not in DEAD_FIELDS})
    return DeadLetter(
        shard,
        entry_id,
        text_of(f.get(b"x-id", b"")),
        text_of(f.get(b"x-reason", b"")),
        int(f.get(b"x-at") or 0),
        fields,
    )
