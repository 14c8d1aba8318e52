"""Money an operator takes out races the account's open holds (issue 57, "What to build" 3):
negative adjustments, grant revocations and lower credit lines against many reservations at
once, on the real scripts, the real settler and the real ledger. No account may end below
its floor, at any moment or once everything settled.

Before: a negative adjustment checked balance minus holds in Redis, waited for the
account's PostgreSQL lock, then applied without looking again (-100,000 accepted on an
account whose balance was all held, which then settled to -90,000 available); a credit line
was lowered below what the account already used.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from billing.metering.usage import Usage
from gateway.services.money.credits import post_adjustment
from gateway.services.money.out import ADJUSTMENT, out_hold, resolve
from gateway.services.money.plan_change import apply_credit_line
from gateway.stores.connect import Stores
from gateway.stores.errors import BalanceTooLow, LineTooLow
from gateway.stores.records import GrantEnd, Settlement
from gateway.workers.grant_keeper import GrantKeeper
from gateway.workers.settler import Settler
from gateway.workers.sweeper import sweep_once
from tests.integration.conftest import Holder, make_holder
from tests.support.invariants import check_invariants, money_violations

HOLD = 10_000
USAGE = Usage(input_tokens=40, output_tokens=7)


async def _reserve(stores: Stores, h: Holder, rid: str) -> str | None:
    decision = await stores.store.reserve(
        rid, h.record, input_tokens=50, max_output_tokens=20, spend_micros=HOLD
    )
    return rid if getattr(decision, "held_micros", None) == HOLD else None


async def _settle_all(stores: Stores, h: Holder, rids: list[str]) -> None:
    for rid in rids:
        debit = Settlement("demo-gpt", "openai", USAGE, HOLD)
        await stores.store.settle(h.shard, h.account_id, rid, debit)
    await Settler(stores.settlement_stream(), stores.ledger).drain()


async def _adjust(stores: Stores, h: Holder, key: str, amount: int) -> int:
    """The amount taken out (0 when refused)."""
    try:
        await post_adjustment(stores.ledger, stores.store, h.account_id, -amount, key, "race")
    except BalanceTooLow:
        return 0
    return amount


async def _lower(stores: Stores, h: Holder) -> bool:
    """Whether the credit line went down to none."""
    with contextlib.suppress(LineTooLow):
        await apply_credit_line(stores.ledger, stores.store, h.account_id, 0)
        return True
    return False


async def test_negative_adjustments_racing_holds_never_take_an_account_below_zero(
    stores: Stores,
) -> None:
    for trial in range(4):
        h = await make_holder(stores, credit=100_000)
        tag = f"{h.account_id}:{trial}"
        adjustments = [_adjust(stores, h, f"adj{n}", 30_000) for n in range(6)]
        reserves = [_reserve(stores, h, f"{tag}:r{n}") for n in range(12)]
        answers = await asyncio.gather(*adjustments, *reserves)
        taken, rids = answers[:6], [r for r in answers[6:] if isinstance(r, str)]
        assert await money_violations(stores, [h.account_id]) == [], (taken, len(rids))
        assert sum(t for t in taken if isinstance(t, int)) + HOLD * len(rids) <= 100_000
        await _settle_all(stores, h, rids)
        assert await money_violations(stores, [h.account_id]) == []
        await check_invariants(stores, [h.account_id])


async def test_a_lower_credit_line_racing_holds_never_leaves_an_account_below_it(
    stores: Stores,
) -> None:
    for trial in range(4):
        h = await make_holder(stores, credit=20_000)
        await apply_credit_line(stores.ledger, stores.store, h.account_id, 50_000)
        tag = f"{h.account_id}:{trial}"

        answers = await asyncio.gather(
            _lower(stores, h), *(_reserve(stores, h, f"{tag}:r{n}") for n in range(7))
        )
        lowered, rids = answers[0], [r for r in answers[1:] if isinstance(r, str)]
        assert await money_violations(stores, [h.account_id]) == [], (lowered, len(rids))
        line = (await stores.ledger.get_account(h.account_id) or {})["credit_line_micros"]
        assert await stores.store.credit_line(h.account_id) == line
        await _settle_all(stores, h, rids)
        assert await money_violations(stores, [h.account_id]) == []


async def test_a_lower_credit_line_is_refused_naming_what_the_account_uses(
    stores: Stores,
) -> None:
    h = await make_holder(stores, credit=20_000)
    await apply_credit_line(stores.ledger, stores.store, h.account_id, 50_000)
    rids = [await _reserve(stores, h, f"{h.account_id}:r{n}") for n in range(6)]
    try:
        await apply_credit_line(stores.ledger, stores.store, h.account_id, 30_000)
    except LineTooLow as exc:
        assert exc.least_micros == 40_000  # 60,000 held on 20,000
    else:
        raise AssertionError("a credit line below what is used was set")
    assert await stores.store.credit_line(h.account_id) == 50_000
    await apply_credit_line(stores.ledger, stores.store, h.account_id, 40_000)
    await _settle_all(stores, h, [r for r in rids if r])
    assert await money_violations(stores, [h.account_id]) == []


async def test_a_revoked_grant_racing_holds_never_takes_an_account_below_zero(
    stores: Stores,
) -> None:
    """The revocation ends the grant in Redis at once (reserve.lua stops spending it); the
    keeper writes off only what holds leave, and the rest once they settle."""
    h = await make_holder(stores, credit=100_000)
    grants, keeper = stores.grants(), GrantKeeper(stores.grants(), stores.grant_write_offs())
    grant = (await grants.of_account(h.account_id))[0]

    async def revoke() -> None:
        now = datetime.fromtimestamp(await stores.store.now_ms() / 1000, UTC)
        revoked = await grants.revoke(grant["id"], now)
        assert revoked is not None
        end = GrantEnd(revoked["id"], revoked["remaining_micros"], int(now.timestamp() * 1000))
        await stores.store.set_grant_end(h.account_id, end)

    reserves = (_reserve(stores, h, f"{h.account_id}:r{n}") for n in range(6))
    answers = await asyncio.gather(*reserves, revoke())
    rids = [r for r in answers if isinstance(r, str)]
    await keeper.tick()
    assert await money_violations(stores, [h.account_id]) == []
    await _settle_all(stores, h, rids)
    for _ in range(3):
        await keeper.tick()
        await Settler(stores.settlement_stream(), stores.ledger).drain()
    assert await money_violations(stores, [h.account_id]) == []
    await check_invariants(stores, [h.account_id])
    assert await stores.store.balance(h.account_id) == (0, 0)


async def test_a_hold_whose_writer_died_is_closed_by_what_the_ledger_says(
    stores: Stores,
) -> None:
    """A crash after the hold: if the entry was never written the sweeper gives the hold
    back; if it was written (and not applied), the sweeper applies it and drops the hold.
    Nothing is stuck, nothing counted twice."""
    h = await make_holder(stores, credit=100_000)
    lost = out_hold(h.account_id, 40_000, ADJUSTMENT, "lost")
    await stores.store.money_out.take(lost)  # died before its transaction committed
    written = out_hold(h.account_id, 30_000, ADJUSTMENT, "written")

    async def hold() -> None:
        await stores.store.money_out.take(written)

    entry = await stores.ledger.credit(
        h.account_id, -30_000, "written", "race", kind="adjustment", hold=hold
    )  # died after its commit, before applying it
    assert await stores.store.balance(h.account_id) == (100_000, 70_000)
    assert await resolve(stores.ledger, stores.store, None, h.shard, lost.hold_id)
    assert await resolve(stores.ledger, stores.store, None, h.shard, written.hold_id)
    assert await stores.store.balance(h.account_id) == (70_000, 0)
    assert not await resolve(stores.ledger, stores.store, None, h.shard, written.hold_id)
    again = await post_adjustment(
        stores.ledger, stores.store, h.account_id, -30_000, "written", "race"
    )
    assert again.entry_id == entry.entry_id and not again.created
    assert await stores.store.balance(h.account_id) == (70_000, 0)
    await check_invariants(stores, [h.account_id])


async def test_the_sweeper_closes_a_money_out_hold_only_through_its_resolver(
    stores: Stores,
) -> None:
    h = await make_holder(stores, credit=100_000)
    left = out_hold(h.account_id, 40_000, ADJUSTMENT, "left")
    await stores.store.money_out.take(left)
    await stores.redis.zadd(stores.store.keys.deadlines(h.shard), {left.hold_id: 0})
    assert await sweep_once(stores.store) == 0  # never voided without the ledger's word
    assert await stores.store.balance(h.account_id) == (100_000, 40_000)

    async def close(shard: int, rid: str) -> bool:
        return await resolve(stores.ledger, stores.store, None, shard, rid)

    assert await sweep_once(stores.store, close) >= 1
    assert await stores.store.balance(h.account_id) == (100_000, 0)
    await check_invariants(stores, [h.account_id])


async def test_money_out_of_a_hot_record_holding_no_held_field_is_taken_as_nothing_held(
    stores: Stores,
) -> None:
    """A hot record a credit alone wrote (`bal`, no `held`: the hash made by HINCRBY before
    the account's record) reads its absent holds as 0, in take.lua as in reserve.lua and
    settle.lua: a negative adjustment is taken, never a 503."""
    h = await make_holder(stores, credit=100_000)
    redis, name = stores.store.redis, stores.store.keys.account(h.shard, h.account_id)
    assert await redis.hdel(name, "held") == 1
    assert await _adjust(stores, h, "adj-no-held", 30_000) == 30_000
    assert await redis.hget(name, "held") == b"0"  # the take's hold, ended by its entry
    rid = await _reserve(stores, h, f"{h.account_id}:after")
    assert rid is not None
    await _settle_all(stores, h, [rid])
    await check_invariants(stores, [h.account_id])
