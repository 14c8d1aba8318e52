"""Settler throughput: pre-fill the shard streams with N settlement messages in the format
settle.lua writes, then time Settler.drain() writing them into PostgreSQL."""

from __future__ import annotations

import itertools
import time
import uuid

from gateway.config.settings import Settings
from gateway.stores.connect import open_stores
from gateway.stores.redis.keys import shard_of
from gateway.stores.redis.stream import backlog
from gateway.stores.stream_fields import packed
from gateway.workers.settler import Settler
from tests.bench.fixtures import Population


def message(rid: str, account_id: str, key_id: str, now_ms: int) -> dict[bytes, bytes]:
    """The message settle.lua XADDs for a debit: one JSON array, in FIELDS order."""
    fields = named_message(rid, account_id, key_id, now_ms)
    return packed({k.encode(): v.encode() for k, v in fields.items()})


def named_message(rid: str, account_id: str, key_id: str, now_ms: int) -> dict[str, str]:
    """The same debit as named fields, as versions before the packed row queued it."""
    return {
        "rid": rid,
        "kind": "debit",
        "acct": account_id,
        "key": key_id,
        "cost": "17",
        "model": "gpt-4o-mini",
        "provider": "openai",
        "in": "21",
        "cin": "0",
        "cw": "0",
        "out": "12",
        "rsn": "0",
        "src": "provider",
        "at": str(now_ms - 5),
        "st": str(now_ms),
    }


async def settler_throughput(settings: Settings, pop: Population, n: int) -> tuple[int, float]:
    """Returns (rows written, seconds) for draining n pre-filled messages."""
    pairs = itertools.cycle(list(zip(pop.key_ids, pop.key_accounts, strict=True)))
    async with open_stores(settings) as stores:
        keys, now_ms = stores.store.keys, int(time.time() * 1000)
        for start in range(0, n, 5000):
            async with stores.redis.pipeline(transaction=False) as pipe:
                for _ in range(min(5000, n - start)):
                    key_id, account_id = next(pairs)
                    rid = f"bench-{uuid.uuid4().hex}"
                    fields = message(rid, account_id, key_id, now_ms)
                    pipe.xadd(keys.stream(shard_of(account_id)), fields)  # type: ignore[arg-type]
                await pipe.execute()
        queued = (await backlog(stores.redis, keys)).length
        settler = Settler(
            stores.settlement_stream(),
            stores.ledger,
            batch=settings.settler_batch,
            lanes=settings.settler_lanes,
        )
        started = time.perf_counter()
        await settler.drain(timeout_s=900)
        elapsed = time.perf_counter() - started
    if settler.written != queued:
        raise RuntimeError(f"settler wrote {settler.written} of {queued} queued messages")
    return settler.written, elapsed
