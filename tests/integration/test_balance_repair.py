"""repair.lua changes a balance only while the fence read with it still holds: a settle or a
credit in between makes it change nothing (the reader reads again)."""

from __future__ import annotations

from billing.metering.usage import Usage
from gateway.stores.connect import Stores
from gateway.stores.postgres.money.balances import ledger_position
from gateway.stores.records import Settlement
from gateway.stores.redis.repair.balances import BalanceRepair
from gateway.workers.settler import Settler
from tests.integration.conftest import Holder, make_holder

SETTLEMENT = Settlement("demo-gpt", "openai", Usage(input_tokens=5, output_tokens=5), 70)


async def _settle(stores: Stores, h: Holder, name: str) -> str:
    """Request ids are unique in the shared test ledger: one per holder."""
    rid = f"{name}-{h.account_id}"
    await stores.store.reserve(rid, h.record, input_tokens=5, max_output_tokens=5, spend_micros=90)
    await stores.store.settle(h.shard, h.account_id, rid, SETTLEMENT)
    return rid


async def _bal(stores: Stores, h: Holder) -> int:
    hot = await stores.store.balance(h.account_id)
    assert hot is not None
    return hot[0]


async def test_position_holds_queued_settlements_of_the_account_across_pages(
    stores: Stores,
) -> None:
    h, other = await make_holder(stores), await make_holder(stores)
    for n in range(7):
        await _settle(stores, h, f"r{n}")
        await _settle(stores, other, f"o{n}")
    pos = await BalanceRepair(stores.store, page=2).position(h.account_id)
    assert pos is not None
    assert pos.balance == 1_000_000 - 7 * 70
    assert dict(pos.queued) == {(f"r{n}-{h.account_id}", "debit"): 70 for n in range(7)}


async def test_a_settle_after_the_read_makes_the_repair_change_nothing(stores: Stores) -> None:
    h = await make_holder(stores)
    fix = BalanceRepair(stores.store)
    pos = await fix.position(h.account_id)
    assert pos is not None
    await _settle(stores, h, "late")
    assert not await fix.repair(pos, 5_000, [])
    assert await _bal(stores, h) == 1_000_000 - 70
    pos = await fix.position(h.account_id)
    assert pos is not None
    assert await fix.repair(pos, 5_000, [])
    assert await _bal(stores, h) == 1_000_000 - 70 + 5_000


async def test_a_credit_after_the_read_makes_the_repair_change_nothing(stores: Stores) -> None:
    h = await make_holder(stores)
    fix = BalanceRepair(stores.store)
    pos = await fix.position(h.account_id)
    assert pos is not None
    entry = await stores.ledger.credit(h.account_id, 500, "later", "test")
    await stores.store.apply_credit(h.account_id, entry.entry_id, 500)
    assert not await fix.repair(pos, 1, [])
    assert await _bal(stores, h) == 1_000_000 + 500


async def test_a_settler_write_after_the_read_is_counted_once(stores: Stores) -> None:
    """No fence is needed against the settler: a queued settlement it writes meanwhile is
    left out of the ledger sum and counted as queued."""
    h = await make_holder(stores)
    await _settle(stores, h, "queued")
    pos = await BalanceRepair(stores.store).position(h.account_id)
    assert pos is not None and pos.queued_micros == 70
    before, _ = await ledger_position(stores.pool, h.account_id, pos.queued.keys())
    await Settler(stores.settlement_stream(), stores.ledger).drain()
    after, credits = await ledger_position(stores.pool, h.account_id, pos.queued.keys())
    assert before == after == 1_000_000 == pos.balance + pos.queued_micros
    assert [amount for _, amount, _ in credits] == [1_000_000]


async def test_a_repair_applies_a_lost_credit_once(stores: Stores) -> None:
    h = await make_holder(stores)
    entry = await stores.ledger.credit(h.account_id, 300, "lost", "test")  # never applied
    fix = BalanceRepair(stores.store)
    assert await fix.unapplied(h.account_id, [entry.entry_id]) == [entry.entry_id]
    pos = await fix.position(h.account_id)
    assert pos is not None
    assert await fix.repair(pos, 300, [entry.entry_id])
    assert await stores.store.apply_credit(h.account_id, entry.entry_id, 300) == 1_000_300
    assert await fix.unapplied(h.account_id, [entry.entry_id]) == []
