"""A commitment's fields in the account hash, through the real scripts: reserve.lua holds a
call against the open period (the record's `C`, the reply's rate), settle.lua draws it and
never past the allowance, a void gives its hold back, held.lua recounts the holds, and
commitment.lua's close answers the same drawn amount however often it is asked."""

from __future__ import annotations

from billing.contracts.commitments import Terms, hot_terms
from billing.metering.usage import Usage
from billing.money.admission import Admitted, BalanceRefused
from gateway.stores.connect import Stores
from gateway.stores.records import Settlement
from gateway.stores.redis.records import decode_reservation
from tests.integration.conftest import Holder, make_holder
from tests.support.replies import present

FAR_MS = 4_102_444_800_000  # 2100-01-01
USAGE = Usage(input_tokens=10, output_tokens=10)


async def reserve(stores: Stores, h: Holder, rid: str, spend: int) -> Admitted | BalanceRefused:
    decision = await stores.store.reserve(
        rid, h.record, input_tokens=10, max_output_tokens=10, spend_micros=spend
    )
    assert isinstance(decision, Admitted | BalanceRefused), decision
    return decision


async def settle(stores: Stores, h: Holder, rid: str, cost: int) -> int:
    settlement = Settlement("m", "openai", USAGE, cost)
    return await stores.store.settle(h.shard, h.account_id, rid, settlement)


async def fields(stores: Stores, h: Holder) -> dict[str, int]:
    raw = await stores.store.commitments.fields(h.account_id)
    return {k: int(v) for k, v in raw.items() if k in ("cma", "cmu", "cmh")}


async def test_a_call_is_held_drawn_and_given_back_against_the_commitment(stores: Stores) -> None:
    h = await make_holder(stores, credit=1_000_000)
    terms = Terms("month", 10_000, "prepaid", discount_bps=1000, on_exhausted="refuse")
    await stores.store.commitments.open(h.account_id, FAR_MS, 10_000, hot_terms(terms))
    admitted = await reserve(stores, h, "c1", 5_000)
    assert isinstance(admitted, Admitted)
    assert (admitted.markup_bps, admitted.held_micros) == (-1000, 4_500)
    raw = await stores.store.redis.hget(stores.store.keys.reservations(h.shard), "c1")
    assert decode_reservation(present(raw)).committed
    assert await fields(stores, h) == {"cma": 10_000, "cmu": 0, "cmh": 4_500}
    assert await stores.hot_restore().restore_held(h.account_id) == 4_500
    assert (await fields(stores, h))["cmh"] == 4_500  # held.lua recounts it alike

    second = await reserve(stores, h, "c2", 5_000)
    assert isinstance(second, Admitted)
    refused = await reserve(stores, h, "c3", 5_000)  # 1,000 left, 4,500 asked
    assert isinstance(refused, BalanceRefused)
    assert (refused.reason, refused.available_micros) == ("commitment_exhausted", 1_000)

    await settle(stores, h, "c1", 4_000)
    assert await fields(stores, h) == {"cma": 10_000, "cmu": 4_000, "cmh": 4_500}
    await settle(stores, h, "c2", 9_000)  # over its hold: draws only what is left
    assert await fields(stores, h) == {"cma": 10_000, "cmu": 10_000, "cmh": 0}

    nxt = (FAR_MS + 1, 10_000, hot_terms(terms))
    assert await stores.store.commitments.close(h.account_id, FAR_MS, nxt) == 10_000
    assert await stores.store.commitments.close(h.account_id, FAR_MS, nxt) == 10_000
    assert await stores.store.commitments.close(h.account_id, FAR_MS - 1, nxt) is None
    assert await fields(stores, h) == {"cma": 10_000, "cmu": 0, "cmh": 0}


async def test_a_call_settled_after_its_period_closed_is_drawn_in_the_next(
    stores: Stores,
) -> None:
    h = await make_holder(stores, credit=1_000_000)
    terms = hot_terms(Terms("month", 10_000, "prepaid"))
    await stores.store.commitments.open(h.account_id, FAR_MS, 10_000, terms)
    assert isinstance(await reserve(stores, h, "late", 3_000), Admitted)
    await stores.store.commitments.close(h.account_id, FAR_MS, (FAR_MS + 1, 7_000, terms))
    assert await fields(stores, h) == {"cma": 7_000, "cmu": 0, "cmh": 3_000}  # it carries
    await settle(stores, h, "late", 2_500)
    assert await fields(stores, h) == {"cma": 7_000, "cmu": 2_500, "cmh": 0}


async def test_a_void_gives_the_hold_back_and_overage_prices_over_the_markup(
    stores: Stores,
) -> None:
    h = await make_holder(stores, credit=1_000_000, markup_bps=2000)
    terms = Terms("month", 1_000, "prepaid", discount_bps=1000, overage_bps=2500)
    await stores.store.commitments.open(h.account_id, FAR_MS, 1_000, hot_terms(terms))
    held = await reserve(stores, h, "v1", 900)  # 900 x 1.08 = 972 fits
    assert isinstance(held, Admitted) and held.markup_bps == 800
    assert await stores.store.void(h.shard, h.account_id, "v1")
    assert await fields(stores, h) == {"cma": 1_000, "cmu": 0, "cmh": 0}
    over = await reserve(stores, h, "v2", 2_000)  # 2,160 does not fit: 1.2 x 1.25 = 1.5
    assert isinstance(over, Admitted) and over.markup_bps == 5000
    assert (await fields(stores, h))["cmh"] == 0
    await stores.store.commitments.end(h.account_id)
    plain = await reserve(stores, h, "v3", 900)
    assert isinstance(plain, Admitted) and plain.markup_bps == 2000
