"""What the leases' store tests share: leases on over the real stores, another process on
the same Redis, and calls admitted and settled by request id."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from billing.metering.usage import Usage
from billing.money.admission import Admitted
from gateway.stores.connect import Stores
from gateway.stores.records import Settlement
from gateway.stores.redis.hotstore import DEBITED, HotStore
from tests.integration.conftest import Holder, make_holder

USAGE = Usage(input_tokens=40, cached_input_tokens=10, output_tokens=7, reasoning_tokens=2)


def leases_on(stores: Stores) -> HotStore:
    """The stores' own hot store, leasing."""
    store = stores.store
    store.leases.enabled = True
    store.leases.rate_ms = _still
    return store


def another_process(stores: Stores) -> HotStore:
    """Another gateway process on the same Redis: its own leases."""
    s = stores.store
    other = HotStore(s.redis, s.keys, reservation_ttl_s=660, leases=True)
    other.leases.rate_ms = _still
    return other


def _still(loop_now: float) -> int:
    """Every call of a test in one rate horizon: its key is busy from its MIN_UNITS-th call,
    however slowly a loaded machine serves the calls (or where a horizon's edge falls)."""
    return 0


async def admit(store: HotStore, h: Holder, rid: str, spend: int = 1_000) -> Admitted:
    decision = await store.reserve(
        rid, h.record, input_tokens=50, max_output_tokens=20, spend_micros=spend
    )
    assert isinstance(decision, Admitted), decision
    return decision


async def busy(
    stores: Stores, calls: int, credit: int = 1_000_000
) -> tuple[HotStore, Holder, list[str]]:
    """Leases on, an account with `credit`, and `calls` admitted calls of one key."""
    store = leases_on(stores)
    h = await make_holder(stores, credit=credit)
    rids = [f"r{n}" for n in range(calls)]
    for rid in rids:
        await admit(store, h, rid)
    return store, h, rids


async def stream_rows(stores: Stores, shard: int) -> list[list[str]]:
    raw: Any = await stores.store.redis.xrange(stores.store.keys.stream(shard))
    return [orjson.loads(fields[b"row"]) for _, fields in raw]


async def leases_in_redis(stores: Stores, shard: int) -> list[str]:
    names: Any = await stores.store.redis.hkeys(stores.store.keys.reservations(shard))
    return [n.decode() for n in names if n.startswith(b"lse_")]


async def settle_all(store: HotStore, h: Holder, rids: Sequence[str], cost: int) -> None:
    for rid in rids:
        done = await store.settle(h.shard, h.account_id, rid, Settlement("m", "p", USAGE, cost))
        assert done == DEBITED
