"""Grants end when they say (issue 46, item 2): admission, reservation and settlement never
spend a grant past its `expires_at`, whether or not the grant keeper has run, and a hold
open across the end settles what it holds without driving the balance below zero.

Each test runs the real scripts, the real keeper and the real settler, on the test clock.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from billing.money.admission import Admitted, BalanceRefused
from gateway.ops.rebuild import rebuild
from gateway.stores.connect import Stores
from gateway.stores.records import GrantEnd
from gateway.workers.grant_keeper import GrantKeeper
from tests.integration.conftest import Holder, make_holder
from tests.integration.test_credit_grants import _advance, _grant, _now, _round, _settle
from tests.integration.test_rebuild_metering import PLANS
from tests.support.harness import REDIS_URL, drop_prefix
from tests.support.invariants import check_invariants


async def _try(stores: Stores, h: Holder, rid: str, held: int) -> bool:
    decision = await stores.store.reserve(
        f"{h.account_id}:{rid}", h.record, input_tokens=10, max_output_tokens=10, spend_micros=held
    )
    return isinstance(decision, Admitted)


async def test_an_expired_grant_pays_nothing_before_the_keeper_runs(stores: Stores) -> None:
    h = await make_holder(stores, credit=0)
    await _grant(stores, h, 500, "paid")
    await _grant(
        stores, h, 1_000, "promo", kind="promotional",
        expires_at=await _now(stores) + timedelta(hours=1),
    )  # fmt: skip
    assert await _try(stores, h, "before", 1_400)
    await stores.store.release(h.shard, h.account_id, f"{h.account_id}:before")
    await _advance(stores, 3_600_000)  # the end, and no keeper has run
    refused = await stores.store.reserve(
        f"{h.account_id}:after", h.record, input_tokens=1, max_output_tokens=1, spend_micros=600
    )
    assert isinstance(refused, BalanceRefused) and refused.available_micros == 500, refused
    assert await _try(stores, h, "paid", 500)


async def test_a_burst_after_the_end_is_refused_whole(stores: Stores) -> None:
    """The audit: 26 calls (39% of a promotional grant) were served in the 0.54 s after its
    end, before the keeper wrote it off. Now none is."""
    h = await make_holder(stores, credit=0)
    await _grant(
        stores, h, 10_000, "promo", kind="promotional",
        expires_at=await _now(stores) + timedelta(seconds=30),
    )  # fmt: skip
    await _advance(stores, 30_000)
    served = await asyncio.gather(*(_try(stores, h, f"c{n}", 150) for n in range(66)))
    assert served.count(True) == 0
    assert await stores.store.balance(h.account_id) == (10_000, 0)


async def test_a_hold_open_across_the_end_never_drives_the_balance_below_zero(
    stores: Stores,
) -> None:
    """The audit's numbers: the only grant is 2,000,000 micros, ending in 30 s; a call holds
    506,644 and the provider reports 600,000; the keeper writes off everything but the hold
    (the debit then left -93,356). Now the debit takes the hold, the rest is uncollected."""
    h = await make_holder(stores, credit=0)
    keeper = GrantKeeper(stores.grants(), stores.grant_write_offs())
    grant = await _grant(
        stores, h, 2_000_000, "promo", kind="promotional",
        expires_at=await _now(stores) + timedelta(seconds=30),
    )  # fmt: skip
    rid = f"{h.account_id}:opus"
    assert await _try(stores, h, "opus", 506_644)
    await _advance(stores, 31_000)
    await _round(stores, keeper)
    assert await stores.store.balance(h.account_id) == (506_644, 506_644)
    assert await stores.store.grant_ends(h.account_id) == (
        GrantEnd(grant, 506_644, (await _end_ms(stores, grant))),
    )
    await _settle(stores, h, rid, 600_000)
    assert await stores.store.balance(h.account_id) == (0, 0)
    owed = await stores.pool.fetchval(
        "SELECT amount_micros FROM uncollected_debits WHERE request_id = $1", rid
    )
    assert owed == 93_356
    await _round(stores, keeper)  # allocated: nothing left, the grant closes
    await _round(stores, keeper)
    assert await stores.store.grant_ends(h.account_id) == ()
    await check_invariants(stores, [h.account_id])


async def _end_ms(stores: Stores, grant_id: int) -> int:
    grant = await stores.grants().get(grant_id)
    assert grant is not None
    return int(grant["expires_at"].timestamp() * 1000)


async def test_a_debit_above_its_hold_after_the_end_takes_only_live_money(
    stores: Stores,
) -> None:
    """Before the keeper runs: the hold is paid (it was admitted while the grant lived),
    the excess only from grants still live. The ledger allocates a debit to live grants
    first, so the hold took the paid 100 and 500 of the ended promotion: nothing live is
    left for the excess."""
    h = await make_holder(stores, credit=0)
    await _grant(stores, h, 100, "paid")
    await _grant(
        stores, h, 1_000, "promo", kind="promotional",
        expires_at=await _now(stores) + timedelta(seconds=30),
    )  # fmt: skip
    assert await _try(stores, h, "r", 600)
    await _advance(stores, 31_000)
    await _settle(stores, h, f"{h.account_id}:r", 2_000)
    assert await stores.store.balance(h.account_id) == (500, 0)  # the hold, no more
    owed = await stores.pool.fetchval(
        "SELECT amount_micros FROM uncollected_debits WHERE request_id = $1", f"{h.account_id}:r"
    )
    assert owed == 1_400
    keeper = GrantKeeper(stores.grants(), stores.grant_write_offs())
    for _ in range(3):
        await _round(stores, keeper)
    assert await stores.store.balance(h.account_id) == (0, 0)
    await check_invariants(stores, [h.account_id])


async def test_rebuild_restores_grant_ends_and_credit_lines(stores: Stores) -> None:
    h = await make_holder(stores, credit=0)
    grant = await _grant(
        stores, h, 1_000, "promo", kind="promotional",
        expires_at=await _now(stores) + timedelta(hours=1),
    )  # fmt: skip
    await stores.ledger.set_credit_line(h.account_id, 700)
    await drop_prefix(REDIS_URL, stores.store.keys.prefix)  # Redis lost everything
    await rebuild(stores, PLANS)
    assert await stores.store.grant_ends(h.account_id) == (
        GrantEnd(grant, 1_000, await _end_ms(stores, grant)),
    )
    assert await stores.store.credit_line(h.account_id) == 700
