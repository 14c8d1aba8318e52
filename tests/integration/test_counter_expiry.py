"""A quota counter's expiry is set by the reserve that creates it (or creates its granule),
not refreshed by every write: the expiry must still cover every instant the counter can
count in a window, old granules must still go, and a settlement's correction must never
bring back a counter that is gone (it would live forever, without an expiry)."""

from __future__ import annotations

from redis.typing import EncodableT

from billing.metering.usage import Usage
from billing.money.admission import Admitted
from billing.money.quotas import Quota
from billing.money.windows import DAY_MS, GRANULES, SLIDING_MS, calendar_period, granule_ms
from gateway.stores.connect import Stores
from gateway.stores.records import Settlement
from tests.integration.conftest import Holder, make_holder

MINUTE, G = SLIDING_MS["minute"], granule_ms("minute")
KEY_QUOTAS = (Quota("minute", "tokens", 10**9), Quota("day", "tokens", 10**9))
ACCOUNT_QUOTAS = (Quota("minute", "requests", 10**6), Quota("total", "requests", 10**6))


async def _holder(stores: Stores) -> Holder:
    return await make_holder(stores, key_quotas=KEY_QUOTAS, account_quotas=ACCOUNT_QUOTAS)


async def _offset(stores: Stores, h: Holder) -> int:
    """The test clock's offset on the holder's shard (reserve.lua adds it to Redis's time)."""
    return int(await stores.store.redis.get(stores.store.keys.clock(h.shard)) or 0)


async def _now(stores: Stores, h: Holder) -> int:
    """Now as reserve.lua sees it on the holder's shard."""
    sec, usec = await stores.store.redis.time()
    return int(sec) * 1000 + int(usec) // 1000 + await _offset(stores, h)


async def _to_granule_start(stores: Stores, h: Holder) -> None:
    """Move the test clock to 10 ms into the next minute granule, so the calls that follow
    (well within 5 s) all fall in one granule."""
    await _advance(stores, h, G - await _now(stores, h) % G + 10)


async def _advance(stores: Stores, h: Holder, ms: int) -> None:
    await stores.store.redis.incrby(stores.store.keys.clock(h.shard), ms)


async def _reserve(stores: Stores, h: Holder, rid: str, tokens: int = 10) -> Admitted:
    decision = await stores.store.reserve(
        rid, h.record, input_tokens=tokens, max_output_tokens=tokens, spend_micros=tokens
    )
    assert isinstance(decision, Admitted), decision
    return decision


def _minute(stores: Stores, h: Holder) -> str:
    return stores.store.keys.counter(h.shard, "k", h.record.key_id, "mi:t")


def _day(stores: Stores, h: Holder, now: int) -> tuple[str, int]:
    period, reset = calendar_period("day", now, int(stores.store.tz_offset_ms()))
    assert reset is not None
    base = stores.store.keys.counter(h.shard, "k", h.record.key_id, "d:t")
    return f"{base}:{period}", reset


async def test_a_new_granule_and_a_new_period_counter_get_their_expiry(stores: Stores) -> None:
    h, redis = await _holder(stores), stores.store.redis
    now = (await _reserve(stores, h, "r1")).now_ms
    assert MINUTE + G < await redis.pttl(_minute(stores, h)) <= MINUTE + 2 * G
    day, reset = _day(stores, h, now)
    assert await redis.pexpiretime(day) == reset + DAY_MS
    total = stores.store.keys.counter(h.shard, "a", h.account_id, "t:r") + ":all"
    assert await redis.get(total) == b"1"
    assert await redis.pttl(total) == -1  # a total never resets


async def test_an_expiry_set_once_covers_every_later_write_to_its_granule(stores: Stores) -> None:
    h, redis = await _holder(stores), stores.store.redis
    await _to_granule_start(stores, h)
    now = (await _reserve(stores, h, "r1")).now_ms
    minute, (day, reset) = _minute(stores, h), _day(stores, h, now)
    first = await redis.pexpiretime(minute)
    later = (await _reserve(stores, h, "r2")).now_ms
    assert later // G == now // G
    assert await redis.pexpiretime(minute) == first
    assert await redis.pexpiretime(day) == reset + DAY_MS
    # The granule counts until (c + GRANULES + 1) * G on the test clock; its hash outlives
    # that by a granule, in Redis's own time.
    last_counted = (now // G + GRANULES + 1) * G - await _offset(stores, h)
    assert first >= last_counted + G


async def test_the_next_granule_pushes_the_expiry(stores: Stores) -> None:
    h, redis = await _holder(stores), stores.store.redis
    await _to_granule_start(stores, h)
    await _reserve(stores, h, "r1")
    minute = _minute(stores, h)
    # About to run out: only the new granule's write can push it. (Comparing with the first
    # expiry instead would need Redis's clock to move between the two calls; the test clock
    # moves, Redis's may not within a millisecond.)
    await redis.pexpire(minute, G)
    await _advance(stores, h, G)
    now = (await _reserve(stores, h, "r2")).now_ms
    pushed = await redis.pexpiretime(minute)
    assert pushed >= (now // G + GRANULES + 2) * G - await _offset(stores, h)


async def test_a_counter_created_at_zero_still_gets_its_expiry(stores: Stores) -> None:
    h, redis = await _holder(stores), stores.store.redis
    now = (await _reserve(stores, h, "r0", tokens=0)).now_ms
    minute, (day, reset) = _minute(stores, h), _day(stores, h, now)
    assert await redis.hgetall(minute) == {str(now // G).encode(): b"0"}
    assert MINUTE + G < await redis.pttl(minute) <= MINUTE + 2 * G
    assert await redis.get(day) == b"0"
    assert await redis.pexpiretime(day) == reset + DAY_MS


async def test_a_new_granule_removes_the_granules_older_than_the_window(stores: Stores) -> None:
    h, redis = await _holder(stores), stores.store.redis
    await _to_granule_start(stores, h)
    c = await _now(stores, h) // G
    minute = _minute(stores, h)
    old: dict[EncodableT, EncodableT] = {str(c - GRANULES - 1 - n): 1 for n in range(GRANULES + 4)}
    await redis.hset(minute, mapping={**old, str(c - 3): 7})
    await redis.pexpire(minute, MINUTE)
    now = (await _reserve(stores, h, "r1")).now_ms
    assert now // G == c
    assert await redis.hgetall(minute) == {str(c - 3).encode(): b"7", str(c).encode(): b"20"}


async def test_a_correction_never_brings_back_a_counter_that_is_gone(stores: Stores) -> None:
    h, redis = await _holder(stores), stores.store.redis
    now = (await _reserve(stores, h, "r1")).now_ms
    minute, (day, reset) = _minute(stores, h), _day(stores, h, now)
    await redis.delete(minute)
    settled = Settlement("demo-gpt", "openai", Usage(input_tokens=3, output_tokens=2), 5)
    await stores.store.settle(h.shard, h.account_id, "r1", settled)
    assert not await redis.exists(minute)
    assert await redis.get(day) == b"5"  # the counters still there were corrected
    assert await redis.pexpiretime(day) == reset + DAY_MS


async def test_a_correction_to_a_granule_already_cleaned_up_leaves_no_negative_granule(
    stores: Stores,
) -> None:
    """A long call's granule can be dropped by the clean-up before it settles; its amounts
    left the window with it. The correction must not bring it back below zero, where a sum
    over the hash (meter_extend.lua) would count it against the newer granules."""
    h, redis = await _holder(stores), stores.store.redis
    await _to_granule_start(stores, h)
    c = (await _reserve(stores, h, "r1")).now_ms // G
    minute = _minute(stores, h)
    assert await redis.hgetall(minute) == {str(c).encode(): b"20"}
    await redis.hdel(minute, str(c))  # as a later reserve's clean-up would
    await redis.hset(minute, str(c + GRANULES + 1), 7)
    settled = Settlement("demo-gpt", "openai", Usage(input_tokens=3, output_tokens=2), 5)
    await stores.store.settle(h.shard, h.account_id, "r1", settled)
    assert await redis.hgetall(minute) == {str(c + GRANULES + 1).encode(): b"7"}
