"""Each HotStore method against the real scripts in a real Redis."""

from __future__ import annotations

import pytest

from billing.metering.usage import Usage
from billing.money.admission import Admitted, BalanceRefused, KeyRefused
from gateway.stores.connect import Stores
from gateway.stores.ports.hot import LOW_BALANCE
from gateway.stores.records import KeyRecord, Settlement
from gateway.stores.redis.hotstore import CLOSED, DEBITED
from tests.integration.conftest import make_holder

USAGE = Usage(input_tokens=40, cached_input_tokens=10, output_tokens=7, reasoning_tokens=2)


async def _reserve(stores: Stores, record: KeyRecord, rid: str, spend: int) -> Admitted:
    decision = await stores.store.reserve(
        rid, record, input_tokens=50, max_output_tokens=20, spend_micros=spend
    )
    assert isinstance(decision, Admitted), decision
    return decision


async def test_lookup_key_finds_what_put_key_published(stores: Stores) -> None:
    h = await make_holder(stores)
    assert await stores.store.lookup_key(h.key_hash) == h.record
    assert await stores.store.lookup_key("0" * 64) is None


async def test_reserve_holds_the_worst_case_and_refuses_what_the_balance_cannot_cover(
    stores: Stores,
) -> None:
    h = await make_holder(stores, credit=1_000)
    admitted = await _reserve(stores, h.record, "r1", 600)
    assert (admitted.account_id, admitted.key_id, admitted.held_micros) == (
        h.account_id,
        h.record.key_id,
        600,
    )
    assert await stores.store.balance(h.account_id) == (1_000, 600)
    refused = await stores.store.reserve(
        "r2", h.record, input_tokens=1, max_output_tokens=1, spend_micros=500
    )
    assert refused == BalanceRefused("insufficient_balance", 400, "pro")
    assert await stores.store.balance(h.account_id) == (1_000, 600)


async def test_settle_debits_the_actual_cost_once(stores: Stores) -> None:
    h = await make_holder(stores, credit=1_000)
    await _reserve(stores, h.record, "r1", 600)
    settlement = Settlement("demo-gpt", "openai", USAGE, 250)
    assert await stores.store.settle(h.shard, h.account_id, "r1", settlement) == DEBITED
    assert await stores.store.balance(h.account_id) == (750, 0)
    assert await stores.store.settle(h.shard, h.account_id, "r1", settlement) == CLOSED
    assert await stores.store.balance(h.account_id) == (750, 0)
    assert (await stores.store.backlog()).length == 1


async def test_settle_says_when_a_debit_leaves_the_balance_under_the_auto_topup_threshold(
    stores: Stores,
) -> None:
    """The auto top-up check runs only after such a debit (settle.lua reports it), so the
    flag must appear exactly when the balance after the debit is under the threshold."""
    h = await make_holder(stores, credit=1_000)
    settlement = Settlement("demo-gpt", "openai", USAGE, 250)
    await _reserve(stores, h.record, "r1", 300)
    assert await stores.store.settle(h.shard, h.account_id, "r1", settlement) == DEBITED
    await stores.store.set_auto_threshold(h.account_id, 500)
    await _reserve(stores, h.record, "r2", 300)
    assert await stores.store.settle(h.shard, h.account_id, "r2", settlement) == DEBITED  # 500
    await _reserve(stores, h.record, "r3", 300)
    assert (
        await stores.store.settle(h.shard, h.account_id, "r3", settlement) == DEBITED | LOW_BALANCE
    )
    assert await stores.store.settle(h.shard, h.account_id, "r3", settlement) == CLOSED
    assert await stores.store.balance(h.account_id) == (250, 0)
    await _reserve(stores, h.record, "r4", 100)
    assert await stores.store.release(h.shard, h.account_id, "r4")  # a release never says so


async def test_release_gives_everything_back_and_queues_nothing(stores: Stores) -> None:
    h = await make_holder(stores, credit=1_000)
    await _reserve(stores, h.record, "r1", 600)
    assert await stores.store.release(h.shard, h.account_id, "r1") is True
    assert await stores.store.balance(h.account_id) == (1_000, 0)
    assert await stores.store.release(h.shard, h.account_id, "r1") is False
    assert (await stores.store.backlog()).length == 0


async def test_void_closes_an_abandoned_reservation_and_records_it(stores: Stores) -> None:
    h = await make_holder(stores, credit=1_000)
    await _reserve(stores, h.record, "r1", 600)
    assert await stores.store.reservation_account(h.shard, "r1") == h.account_id
    assert await stores.store.void(h.shard, h.account_id, "r1") is True
    assert await stores.store.balance(h.account_id) == (1_000, 0)
    assert await stores.store.reservation_account(h.shard, "r1") is None
    assert await stores.store.void(h.shard, h.account_id, "r1") is False
    assert (await stores.store.backlog()).length == 1


async def test_apply_credit_counts_each_ledger_entry_once(stores: Stores) -> None:
    h = await make_holder(stores, credit=0)
    assert await stores.store.apply_credit(h.account_id, 901, 5_000) == 5_000
    assert await stores.store.apply_credit(h.account_id, 901, 5_000) == 5_000
    assert await stores.store.apply_credit(h.account_id, 902, 1_000) == 6_000
    assert await stores.store.balance(h.account_id) == (6_000, 0)


async def test_revoked_key_is_refused_at_reserve(stores: Stores) -> None:
    h = await make_holder(stores)
    await stores.store.revoke_key(h.shard, h.record.key_id)
    refused = await stores.store.reserve(
        "r1", h.record, input_tokens=1, max_output_tokens=1, spend_micros=1
    )
    assert refused == KeyRefused("key_revoked")


async def test_consistent_follows_the_ready_markers(stores: Stores) -> None:
    assert await stores.store.consistent() is True
    await stores.store.redis.delete(stores.store.keys.ready(3))
    assert await stores.store.consistent() is False


@pytest.mark.parametrize("mode", ["prepaid", "postpaid"])
async def test_put_account_keeps_the_balance(stores: Stores, mode: str) -> None:
    h = await make_holder(stores, credit=2_000)
    await stores.store.put_account(
        h.account_id, plan="pro", mode=mode, billing_ready=True, quotas=(), markup_bps=0
    )
    assert await stores.store.balance(h.account_id) == (2_000, 0)
