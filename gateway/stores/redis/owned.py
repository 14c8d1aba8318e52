"""Which key created each Responses API response, and which are still running.

A record lives 30 days (about as long as the provider keeps a stored response), so only its
creator can retrieve, cancel, list or delete it. A background response's record also holds
its open reservation, and its id sits in the due set until the gateway settles it.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import asdict
from typing import Any, TypeVar

import redis.asyncio as aioredis

from gateway.stores.records import OwnedFile, OwnedResponse
from gateway.stores.redis.errors import map_redis_errors
from gateway.stores.redis.keys import Keys

RECORD_TTL_S = 30 * 24 * 3600
T = TypeVar("T")


def _to_hash(owned: OwnedResponse) -> dict[str, str]:
    fields = asdict(owned).items()
    return {k: str(int(v) if isinstance(v, bool) else v) for k, v in fields if v is not None}


def _from_hash(raw: dict[bytes, bytes]) -> OwnedResponse:
    f = {k.decode(): v.decode() for k, v in raw.items()}
    return OwnedResponse(
        f["response_id"],
        f["key_id"],
        f["account_id"],
        int(f["shard"]),
        f["request_id"],
        f["model"],
        int(f["input_tokens"]),
        int(f["held_micros"]),
        f["pending"] == "1",
        int(f.get("markup_bps", "0")),  # a record from before markups has none
        int(f.get("admitted_at_ms", "0")),
        int(f["cost_micros"]) if "cost_micros" in f else None,
        int(f.get("worst_micros", "0")),
    )


class OwnedResponses:
    """The Redis home of response ownership; Redis errors leave as HotStoreUnavailable.
    With `batches` it keeps batches instead, the same way under their own names (a batch
    is a response that runs for hours: its reservation stays open until it ends)."""

    def __init__(self, client: aioredis.Redis, keys: Keys, *, batches: bool = False) -> None:
        self.redis = client
        self.keys = keys
        self._name = keys.owned_batch if batches else keys.owned_response
        self._due = keys.batches_due() if batches else keys.responses_due()

    async def _run(self, op: Awaitable[T]) -> T:
        with map_redis_errors():
            return await op

    async def record(self, owned: OwnedResponse, poll_at_ms: int) -> None:
        """Remember the owner; a pending response is polled from `poll_at_ms` on."""
        name = self._name(owned.response_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(name, mapping=_to_hash(owned))  # type: ignore[arg-type]
            pipe.expire(name, RECORD_TTL_S)
            if owned.pending:
                pipe.zadd(self._due, {owned.response_id: poll_at_ms})
            await self._run(pipe.execute())

    async def get(self, response_id: str) -> OwnedResponse | None:
        raw: dict[bytes, bytes] = await self._run(
            self.redis.hgetall(self._name(response_id))  # type: ignore[arg-type]
        )
        return _from_hash(raw) if raw else None

    async def settled(self, response_id: str, cost_micros: int | None = None) -> None:
        """The reservation is closed: stop polling, keep the owner (and the debit queued)."""
        fields = (
            {"pending": "0"}
            if cost_micros is None
            else {"pending": "0", "cost_micros": str(cost_micros)}
        )
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(self._name(response_id), mapping=fields)  # type: ignore[arg-type]
            pipe.zrem(self._due, response_id)
            await self._run(pipe.execute())

    async def due(self, now_ms: int, limit: int = 100) -> list[str]:
        ids: list[Any] = await self._run(
            self.redis.zrangebyscore(self._due, "-inf", now_ms, start=0, num=limit)
        )
        return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]

    async def poll_later(self, response_id: str, at_ms: int) -> None:
        await self._run(self.redis.zadd(self._due, {response_id: at_ms}, xx=True))

    async def hold(self, owned: OwnedResponse, until_ms: int) -> None:
        """Move the open reservation's deadline, so the sweeper leaves a running response be."""
        deadlines = self.keys.deadlines(owned.shard)
        await self._run(self.redis.zadd(deadlines, {owned.request_id: until_ms}, xx=True))


def _file_hash(rec: OwnedFile) -> dict[str, str]:
    return {k: str(v) for k, v in asdict(rec).items()}


class OwnedFiles:
    """Which key uploaded each batch input file (with its priced summary), or whose batch
    produced it; a record lives as long as a response's."""

    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self.redis = client
        self.keys = keys

    async def put(self, rec: OwnedFile) -> None:
        name = self.keys.owned_file(rec.file_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(name, mapping=_file_hash(rec))  # type: ignore[arg-type]
            pipe.expire(name, RECORD_TTL_S)
            with map_redis_errors():
                await pipe.execute()

    async def get(self, file_id: str) -> OwnedFile | None:
        with map_redis_errors():
            name = self.keys.owned_file(file_id)
            raw: dict[bytes, bytes] = await self.redis.hgetall(name)  # type: ignore[assignment]
        if not raw:
            return None
        f = {k.decode(): v.decode() for k, v in raw.items()}
        return OwnedFile(
            f["file_id"], f["key_id"], f["account_id"], f["model"], f["endpoint"],
            int(f["lines"]), int(f["input_tokens"]), int(f["output_tokens"]),
            int(f["fees_micros"]), int(f.get("worst_micros", "0")), f.get("batch_id", ""),
        )  # fmt: skip
