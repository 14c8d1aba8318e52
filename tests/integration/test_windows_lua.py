"""billing/money/windows.py names the same Redis counters, periods and granules as reserve.lua."""

from __future__ import annotations

from billing.money.admission import Admitted
from billing.money.quotas import Quota
from billing.money.windows import WINDOW_CODE, calendar_period, sliding_granules
from gateway.services.auth import hash_key
from gateway.stores.records import KeyRecord
from tests.support.factories import tenant
from tests.support.harness import Gateway

WINDOWS = ("minute", "hour", "day", "week", "month", "total")


async def test_reserve_writes_the_counters_windows_py_reads(gw: Gateway) -> None:
    t = await tenant(gw)
    store = gw.store
    record = await store.lookup_key(hash_key(t.key))
    assert record is not None
    quotas = [Quota(w, "tokens", 10**9) for w in WINDOWS]  # type: ignore[arg-type]
    await store.set_key_quotas(record.shard, record.key_id, quotas)
    await gw.advance_clock(3 * 86_400_000 + 12_345)
    decision = await store.reserve(
        "rid-1", record, input_tokens=7, max_output_tokens=5, spend_micros=1
    )
    assert isinstance(decision, Admitted)
    now = decision.now_ms
    for window in WINDOWS:
        await _assert_counter(gw, record, window, now)
    await store.release(record.shard, record.account_id, "rid-1")


async def _assert_counter(gw: Gateway, record: KeyRecord, window: str, now: int) -> None:
    store = gw.store
    base = store.keys.counter(record.shard, "k", record.key_id, f"{WINDOW_CODE[window]}:t")
    if window in ("minute", "hour"):
        fields, _ = sliding_granules(window, now)
        values = await store.redis.hmget(base, fields)
        assert sum(int(v or 0) for v in values) == 12, window
        return
    pid, reset = calendar_period(window, now, int(store.tz_offset_ms()))
    assert int(await store.redis.get(f"{base}:{pid}") or 0) == 12, window
    if reset is not None:
        expire_at = await store.redis.pexpiretime(f"{base}:{pid}")
        assert expire_at > 0, window
