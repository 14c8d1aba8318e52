"""A sliding window decides exactly what summing its granules decides: reserve.lua's reading
of the granule hash, settle.lua's corrections and the clean-up of old granules, checked
against the hash itself over random calls, settlements and clock moves."""

from __future__ import annotations

import random

from redis.asyncio import Redis

from billing.metering.usage import Usage
from billing.money.admission import Admitted, QuotaRefused
from billing.money.quotas import Quota
from billing.money.windows import GRANULES, granule_ms
from gateway.stores.connect import Stores
from gateway.stores.records import Settlement
from tests.integration.conftest import Holder, make_holder

G = granule_ms("minute")
LIMIT = 1_000


async def _holder(stores: Stores) -> Holder:
    quotas = (Quota("minute", "tokens", LIMIT),)
    return await make_holder(stores, credit=10**12, key_quotas=quotas)


def _minute(stores: Stores, h: Holder) -> str:
    return stores.store.keys.counter(h.shard, "k", h.record.key_id, "mi:t")


async def _now(stores: Stores, h: Holder) -> int:
    sec, usec = await stores.store.redis.time()
    offset = int(await stores.store.redis.get(stores.store.keys.clock(h.shard)) or 0)
    return int(sec) * 1000 + int(usec) // 1000 + offset


async def _advance(stores: Stores, h: Holder, ms: int) -> None:
    await stores.store.redis.incrby(stores.store.keys.clock(h.shard), ms)


async def _granules(redis: Redis, name: str) -> dict[int, int]:
    raw = await redis.hgetall(name)
    return {int(k): int(v) for k, v in raw.items()}


async def _reserve(stores: Stores, h: Holder, rid: str, tokens: int) -> Admitted | QuotaRefused:
    decision = await stores.store.reserve(
        rid, h.record, input_tokens=tokens, max_output_tokens=0, spend_micros=1
    )
    assert isinstance(decision, Admitted | QuotaRefused), decision
    return decision


async def test_every_decision_equals_summing_the_window(stores: Stores) -> None:
    """Random reserves and settlements over two minutes of granules: each reserve admits
    exactly when the window's granules in the hash leave room, and reports that room."""
    h, redis, rng = await _holder(stores), stores.store.redis, random.Random(17)
    minute, open_ = _minute(stores, h), list[tuple[str, int]]()
    for n in range(120):
        if rng.random() < 0.4:
            await _advance(stores, h, rng.choice((1, G // 2, G, 3 * G, (GRANULES + 2) * G)))
        if open_ and rng.random() < 0.5:
            rid, reserved = open_.pop(rng.randrange(len(open_)))
            used = rng.randint(0, reserved)
            settled = Settlement("demo-gpt", "openai", Usage(input_tokens=used), 1)
            await stores.store.settle(h.shard, h.account_id, rid, settled)
            continue
        c = await _now(stores, h) // G
        in_window = sum(v for g, v in (await _granules(redis, minute)).items() if g >= c - GRANULES)
        tokens = rng.randint(1, 300)
        decision = await _reserve(stores, h, f"r{n}", tokens)
        if in_window + tokens > LIMIT:
            assert isinstance(decision, QuotaRefused), (n, in_window, tokens)
            assert decision.used == in_window
        else:
            assert isinstance(decision, Admitted), (n, in_window, tokens)
            assert decision.tokens is not None
            assert decision.tokens.remaining == LIMIT - in_window - tokens
            open_.append((f"r{n}", tokens))


async def test_a_window_refused_at_its_limit_tells_when_room_comes_back(stores: Stores) -> None:
    """The refusal's reset still reads the granules: the instant enough of them leave."""
    h = await _holder(stores)
    c = await _now(stores, h) // G
    await _reserve(stores, h, "r1", 600)
    await _advance(stores, h, 2 * G)
    await _reserve(stores, h, "r2", 300)
    refused = await _reserve(stores, h, "r3", 200)
    assert isinstance(refused, QuotaRefused)
    assert refused.used == 900
    # r1's granule c leaves the window at (c + GRANULES + 1) * G, on the clock that decided.
    assert refused.resets_at_ms == (c + GRANULES + 1) * G


async def test_a_full_windows_reset_as_read_is_the_refusals_and_holds_across_a_granule(
    stores: Stores,
) -> None:
    """The account API's `resets_at` of a full window is when one more token fits, the
    instant the hot path's refusal names, and a read one granule later says the same (the
    read takes the time of shard 0's clock, so every shard's clock moves)."""
    h = await _holder(stores)
    quotas = (Quota("minute", "tokens", LIMIT),)
    await _reserve(stores, h, "r1", 400)
    await _advance_every_shard(stores, 2 * G)
    await _reserve(stores, h, "r2", 600)
    refused = await _reserve(stores, h, "r3", 1)
    assert isinstance(refused, QuotaRefused)
    (read,) = await stores.store.window_counts(h.shard, "k", h.record.key_id, quotas)
    assert (read.used, read.resets_at_ms) == (LIMIT, refused.resets_at_ms)
    await _advance_every_shard(stores, G)
    (later,) = await stores.store.window_counts(h.shard, "k", h.record.key_id, quotas)
    assert (later.used, later.resets_at_ms) == (LIMIT, refused.resets_at_ms)


async def _advance_every_shard(stores: Stores, ms: int) -> None:
    for shard in range(64):
        await stores.store.redis.incrby(stores.store.keys.clock(shard), ms)
