"""The metered formats through the real scripts: the reservation record's meter fields, the
closed marker, the metered stream message and its ledger row, and an extension's hold."""

from __future__ import annotations

from billing.money.admission import Admitted, QuotaRefused
from billing.money.quotas import Quota
from gateway.stores import stream_fields
from gateway.stores.connect import Stores
from gateway.stores.meter_records import Extended, MeterClosed, MeterHold, MeterOpen
from gateway.stores.redis.keys import Keys
from gateway.stores.redis.records import decode_reservation
from tests.integration.conftest import make_holder
from tests.integration.test_script_keys import _recording, _snapshot
from tests.support.replies import entries, present

DAY_GPU = Quota("day", "meter:gpu_seconds", 100)


def _hold(account_id: str, rid: str = "mtr_0_" + "a" * 32, quantity: int = 10) -> MeterHold:
    return MeterHold(rid, account_id, "", "gpu_seconds", quantity, quantity * 4, "runner", 60_000,
                     True, occurred_at_ms=1_700_000_000_000)  # fmt: skip


async def test_metered_record_message_and_row_round_trip(stores: Stores) -> None:
    h = await make_holder(stores, account_quotas=(DAY_GPU,))
    rid = f"mtr_{h.shard}_" + "b" * 32
    admitted = await stores.store.meters.hold(_hold(h.account_id, rid))
    assert isinstance(admitted, Admitted)
    keys = stores.store.keys
    raw = present(await stores.store.redis.hget(keys.reservations(h.shard), rid))
    record = decode_reservation(raw)
    assert (record.meter, record.max_quantity, record.service) == ("gpu_seconds", 10, "runner")
    assert record.charge_on_expiry and record.occurred_at_ms == 1_700_000_000_000
    assert (record.held_micros, record.requests, record.key_id) == (40, 0, "")
    assert [c.metric for c in record.counters] == ["m.gpu_seconds"]
    assert await stores.store.meters.hold(_hold(h.account_id, rid)) == MeterOpen()

    assert await stores.store.meters.settle(rid, 7, 28, asked=9)
    assert await stores.store.meters.closed(rid) == MeterClosed("debit", 7, 28, 9)
    assert await stores.store.meters.hold(_hold(h.account_id, rid)) == MeterClosed(
        "debit", 7, 28, 9
    )
    [(_, fields)] = entries(await stores.store.redis.xrange(keys.stream(h.shard)))
    assert tuple(fields) == (stream_fields.ROW,)
    assert tuple(stream_fields.named(fields)) == stream_fields.METERED_FIELDS
    row = dict(zip(stream_fields.LEDGER_COLUMNS, stream_fields.ledger_row_raw(fields), strict=True))
    assert (row["kind"], row["amount_micros"], row["key_id"], row["usage_source"]) == (
        "debit", -28, None, None,
    )  # fmt: skip
    assert (row["meter"], row["quantity"], row["service"]) == ("gpu_seconds", 7, "runner")
    assert row["occurred_at"].timestamp() * 1000 == 1_700_000_000_000
    day = keys.counter(h.shard, "a", h.account_id, DAY_GPU.code)
    counters = await stores.store.redis.keys(Keys.period_counter(day, "*"))
    assert [int(present(await stores.store.redis.get(c))) for c in counters] == [7]
    assert await stores.store.balance(h.account_id) == (1_000_000 - 28, 0)


async def test_extension_counts_and_refuses_on_the_admitted_windows(stores: Stores) -> None:
    h = await make_holder(stores, account_quotas=(DAY_GPU,))
    rid = f"mtr_{h.shard}_" + "c" * 32
    assert isinstance(await stores.store.meters.hold(_hold(h.account_id, rid, 60)), Admitted)
    grown = await stores.store.meters.extend(
        rid, "runner", ttl_ms=60_000, max_quantity=90, hold_micros=360
    )
    assert isinstance(grown, Extended) and (grown.max_quantity, grown.held_micros) == (90, 360)
    assert await stores.store.balance(h.account_id) == (1_000_000, 360)
    refused = await stores.store.meters.extend(
        rid, "runner", ttl_ms=60_000, max_quantity=101, hold_micros=404
    )
    assert isinstance(refused, QuotaRefused)
    assert (refused.metric, refused.limit, refused.used, refused.requested) == (
        "meter:gpu_seconds", 100, 90, 11,
    )  # fmt: skip
    assert (
        await stores.store.meters.extend(
            rid, "someone-else", ttl_ms=1, max_quantity=0, hold_micros=0
        )
        is None
    )
    assert await stores.store.meters.release(rid)
    assert await stores.store.balance(h.account_id) == (1_000_000, 0)


async def test_metered_scripts_write_only_keys_they_were_given(stores: Stores) -> None:
    h = await make_holder(stores, account_quotas=(DAY_GPU, Quota("minute", "spend_micros", 10**6)))
    store, meters, given = stores.store, stores.store.meters, set[str]()
    store._reserve = _recording(store._reserve, given)
    store._settle = _recording(store._settle, given)
    meters._extend = _recording(meters._extend, given)
    before = await _snapshot(stores)
    rids = [f"mtr_{h.shard}_" + c * 32 for c in "def"]
    for rid in rids:
        assert isinstance(await meters.hold(_hold(h.account_id, rid, 5)), Admitted)
    grown = await meters.extend(rids[0], "runner", ttl_ms=9_000, max_quantity=8, hold_micros=32)
    assert isinstance(grown, Extended)
    assert await meters.settle(rids[0], 6, 24)
    assert await meters.release(rids[1])
    assert await meters.expire(rids[2])
    after = await _snapshot(stores)
    changed = {k.decode() for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert changed - given == set()
    assert {k for k in changed if ":mc:" in k} == {store.keys.closed(h.shard, r) for r in rids}
