"""Credit grants on the real stores: draw order, an expiry mid-month, a reservation open
across an expiry, a refund returning to its grant, a revocation (tests/support/invariants.py checks
that the grants add up to the balance after each)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from billing.metering.usage import Usage
from billing.money.admission import Admitted
from gateway.services.money.credits import post_credit
from gateway.stores.connect import Stores
from gateway.stores.records import GrantEnd, GrantSpec, Settlement
from gateway.stores.redis.keys import SHARDS
from gateway.stores.stream_fields import LEDGER_COLUMNS, ledger_row_raw
from gateway.workers.grant_keeper import GrantKeeper
from gateway.workers.settler import Settler
from tests.integration.conftest import Holder, make_holder
from tests.support.invariants import check_grants, check_invariants
from tests.support.replies import entries

DAY_MS = 24 * 3600 * 1000


async def _now(stores: Stores) -> datetime:
    return datetime.fromtimestamp(await stores.store.now_ms() / 1000, UTC)


async def _grant(stores: Stores, h: Holder, amount: int, key: str, **spec: Any) -> int:
    posted = await post_credit(
        stores.ledger, stores.store, h.account_id, amount, key, "test", grant=GrantSpec(**spec)
    )
    row = await stores.pool.fetchrow(
        "SELECT id FROM credit_grants WHERE credit_entry_id = $1", posted.entry_id
    )
    return int(row["id"])


async def _spend(stores: Stores, h: Holder, rid: str, cost: int, held: int = 0) -> None:
    await _reserve(stores, h, rid, held or cost)
    await _settle(stores, h, rid, cost)


async def _reserve(stores: Stores, h: Holder, rid: str, held: int) -> None:
    decision = await stores.store.reserve(
        rid, h.record, input_tokens=10, max_output_tokens=10, spend_micros=held
    )
    assert isinstance(decision, Admitted)


async def _settle(stores: Stores, h: Holder, rid: str, cost: int) -> None:
    usage = Usage(input_tokens=10, output_tokens=10)
    await stores.store.settle(h.shard, h.account_id, rid, Settlement("m", "openai", usage, cost))
    await Settler(stores.settlement_stream(), stores.ledger).drain()


async def _advance(stores: Stores, ms: int) -> None:
    async with stores.redis.pipeline(transaction=False) as pipe:
        for shard in range(SHARDS):
            pipe.incrby(stores.store.keys.clock(shard), ms)
        await pipe.execute()


async def _draws(stores: Stores, rid: str) -> dict[int | None, int]:
    rows = await stores.pool.fetch(
        "SELECT d.grant_id, d.amount_micros FROM grant_draws d"
        " JOIN ledger_entries l ON l.id = d.entry_id WHERE l.request_id = $1",
        rid,
    )
    return {r["grant_id"]: r["amount_micros"] for r in rows}


async def _remaining(stores: Stores, grant_id: int) -> int:
    return int(
        await stores.pool.fetchval(
            "SELECT remaining_micros FROM credit_grants WHERE id = $1", grant_id
        )
    )


async def _round(stores: Stores, keeper: GrantKeeper) -> None:
    """One keeper tick, then the settler writes what it queued."""
    await keeper.tick()
    await Settler(stores.settlement_stream(), stores.ledger).drain()


async def test_debits_draw_soonest_expiry_first_then_priority_and_paid_last(
    stores: Stores,
) -> None:
    h = await make_holder(stores, credit=0)
    now = await _now(stores)
    paid = await _grant(stores, h, 1_000, "paid")
    late_a = await _grant(
        stores, h, 300, "promo-a", kind="promotional", expires_at=now + timedelta(days=10)
    )
    soon = await _grant(stores, h, 200, "trial", kind="trial", expires_at=now + timedelta(days=5))
    late_c = await _grant(
        stores, h, 100, "promo-c", kind="promotional", expires_at=now + timedelta(days=10),
        priority=10,
    )  # fmt: skip
    await _spend(stores, h, "d1", 250)
    await _spend(stores, h, "d2", 400)
    await stores.grants().allocate(h.account_id)
    assert await _draws(stores, "d1") == {soon: 200, late_c: 50}
    assert await _draws(stores, "d2") == {late_c: 50, late_a: 300, paid: 50}
    assert [await _remaining(stores, g) for g in (paid, late_a, soon, late_c)] == [950, 0, 0, 0]
    await check_invariants(stores, [h.account_id])


async def test_a_promotional_grant_expiring_mid_month_writes_off_exactly_its_rest(
    stores: Stores,
) -> None:
    h = await make_holder(stores, credit=0)
    keeper = GrantKeeper(stores.grants(), stores.grant_write_offs())
    await _grant(stores, h, 1_000_000, "paid")
    promo = await _grant(
        stores, h, 500_000, "promo", kind="promotional",
        expires_at=await _now(stores) + timedelta(days=15),
    )  # fmt: skip
    await _spend(stores, h, "before", 200_000)
    await _round(stores, keeper)  # not yet expired: nothing written off
    assert await stores.store.balance(h.account_id) == (1_300_000, 0)
    await _advance(stores, 16 * DAY_MS)
    await _round(stores, keeper)
    assert await stores.store.balance(h.account_id) == (1_000_000, 0)
    await _round(stores, keeper)  # allocated: nothing left, the grant closes
    await _round(stores, keeper)
    rows = await stores.pool.fetch(
        "SELECT request_id, amount_micros, metadata FROM ledger_entries"
        " WHERE account_id = $1 AND kind = 'expire'",
        h.account_id,
    )
    assert [(r["request_id"], r["amount_micros"]) for r in rows] == [
        (f"grant:{promo}:expire:0", -300_000)
    ]
    assert json.loads(rows[0]["metadata"]) == {"grant_id": promo, "cause": "expired"}
    grant = await stores.grants().get(promo)
    assert grant is not None and grant["remaining_micros"] == 0
    assert grant["closed_at"] is not None
    await _spend(stores, h, "after", 100_000)
    assert await _draws(stores, "after") == {}  # not allocated yet
    await check_invariants(stores, [h.account_id])
    assert len(await _draws(stores, "after")) == 1


async def test_a_reservation_open_across_an_expiry_keeps_what_it_holds(stores: Stores) -> None:
    h = await make_holder(stores, credit=0)
    keeper = GrantKeeper(stores.grants(), stores.grant_write_offs())
    promo = await _grant(
        stores, h, 1_000, "promo", kind="promotional",
        expires_at=await _now(stores) + timedelta(hours=1),
    )  # fmt: skip
    await _reserve(stores, h, "open", 400)
    await _advance(stores, 2 * 3600 * 1000)
    await _round(stores, keeper)
    assert await stores.store.balance(h.account_id) == (400, 400)  # held stays
    await _settle(stores, h, "open", 300)
    assert await stores.store.balance(h.account_id) == (100, 0)
    await _round(stores, keeper)  # the rest, once the reservation settled
    assert await stores.store.balance(h.account_id) == (0, 0)
    await _round(stores, keeper)
    expires = await stores.pool.fetch(
        "SELECT amount_micros FROM ledger_entries WHERE account_id = $1 AND kind = 'expire'"
        " ORDER BY id",
        h.account_id,
    )
    assert [r["amount_micros"] for r in expires] == [-600, -100]
    assert await _draws(stores, "open") == {promo: 300}
    await check_invariants(stores, [h.account_id])


async def test_a_refund_returns_to_the_grant_of_the_payment_it_refunds(stores: Stores) -> None:
    h = await make_holder(stores, credit=0)
    first = await _grant(stores, h, 1_000, "pay_1")
    second = await _grant(stores, h, 500, "pay_2")
    await _spend(stores, h, "spent", 100)  # from the first, the older paid grant
    await post_credit(
        stores.ledger, stores.store, h.account_id, -300, "re_1", "refund of pay_1",
        kind="refund", grant=GrantSpec(refund_of="pay_1"),
    )  # fmt: skip
    await check_grants(stores, [h.account_id])
    assert await _remaining(stores, first) == 600
    assert await _remaining(stores, second) == 500
    await check_invariants(stores, [h.account_id])


async def test_a_revoked_grant_has_its_rest_written_off(stores: Stores) -> None:
    h = await make_holder(stores, credit=0)
    keeper = GrantKeeper(stores.grants(), stores.grant_write_offs())
    await _grant(stores, h, 700, "paid")
    trial = await _grant(stores, h, 300, "trial", kind="trial")
    await _spend(stores, h, "used", 50)
    await stores.grants().revoke(trial, await _now(stores))
    await _round(stores, keeper)
    await _round(stores, keeper)
    rows = await stores.pool.fetch(
        "SELECT amount_micros, metadata FROM ledger_entries WHERE account_id = $1"
        " AND kind = 'expire'",
        h.account_id,
    )
    assert [r["amount_micros"] for r in rows] == [-250]
    assert json.loads(rows[0]["metadata"])["cause"] == "revoked"
    assert await stores.store.balance(h.account_id) == (700, 0)
    grant = await stores.grants().get(trial)
    assert grant is not None and grant["closed_at"] is not None
    await check_invariants(stores, [h.account_id])


async def test_a_write_off_uses_only_its_keys_and_queues_the_row_the_settler_reads(
    stores: Stores,
) -> None:
    h = await make_holder(stores, credit=1_000)
    offs, given = stores.grant_write_offs(), set[str]()
    script = offs._script

    async def recording(keys: Sequence[str], args: Sequence[Any]) -> Any:
        given.update(keys)
        return await script(keys, args)

    offs._script = recording
    prefix = stores.store.keys.prefix
    before = {k: await stores.redis.dump(k) async for k in stores.redis.scan_iter(f"{prefix}:*")}
    seq = await offs.fence(h.account_id)
    assert seq is not None
    end = GrantEnd(42, 300, 1_700_000_000_000)
    assert await offs.write_off(h.account_id, end, "grant:42:expire:0", seq + 1, "expired") == -1
    assert await offs.write_off(h.account_id, end, "grant:42:expire:0", seq, "expired") == 300
    assert await stores.store.grant_ends(h.account_id) == ()  # nothing held: no rest left
    after = {k: await stores.redis.dump(k) async for k in stores.redis.scan_iter(f"{prefix}:*")}
    changed = {k.decode() for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert changed - given == set()
    assert await offs.fence(h.account_id) is None  # queued for the ledger: wait
    end = GrantEnd(42, 900, 1_700_000_000_000)
    assert await offs.write_off(h.account_id, end, "grant:42:expire:1", seq + 1, "revoked") == 700
    # what the balance could not give stays the grant's rest, past its end
    assert await stores.store.grant_ends(h.account_id) == (GrantEnd(42, 200, 1_700_000_000_000),)
    stream = stores.store.keys.stream(h.shard)
    rows = [ledger_row_raw(f) for _, f in entries(await stores.redis.xrange(stream))]
    assert [(r[1], r[2], r[3], json.loads(r[LEDGER_COLUMNS.index("metadata")])) for r in rows] == [
        ("expire", -300, "grant:42:expire:0", {"grant_id": 42, "cause": "expired"}),
        ("expire", -700, "grant:42:expire:1", {"grant_id": 42, "cause": "revoked"}),
    ]
    assert await stores.store.balance(h.account_id) == (0, 0)
    await Settler(stores.settlement_stream(), stores.ledger).drain()


async def _books_through(stores: Stores, account_id: str) -> int:
    return int(
        await stores.pool.fetchval(
            "SELECT coalesce(max(through_id), 0) FROM grant_books WHERE account_id = $1",
            account_id,
        )
    )


async def test_a_tick_allocates_the_accounts_with_new_entries_without_a_full_pass(
    stores: Stores,
) -> None:
    """After its first tick (the thorough pass), a keeper finds moved accounts from the
    ledger's new ids alone; an entry whose id was taken before one already read, committed
    after it, is still found on the next tick."""
    keeper = GrantKeeper(stores.grants(), stores.grant_write_offs())
    await keeper.tick()  # the thorough pass; the next one is a minute away
    a, b = await make_holder(stores, credit=0), await make_holder(stores, credit=0)
    await _grant(stores, a, 1_000, "paid-a")
    await keeper.tick()
    assert await _books_through(stores, a.account_id) == await stores.grants().last_entry_id()

    late = await stores.pool.acquire()
    try:  # b's entry takes its id now and commits after a higher id was read
        tx = late.transaction()
        await tx.start()
        held_id = await late.fetchval("SELECT nextval('ledger_entries_id_seq')")
        await _grant(stores, a, 500, "paid-a2")
        await keeper.tick()
        assert await _books_through(stores, a.account_id) > held_id
        await late.execute(
            "INSERT INTO ledger_entries (id, account_id, kind, amount_micros, idempotency_key)"
            " VALUES ($1, $2, 'credit', 700, 'late-credit')",
            held_id,
            b.account_id,
        )
        await late.execute(
            "UPDATE accounts SET balance_micros = balance_micros + 700 WHERE id = $1",
            b.account_id,
        )
        await tx.commit()
    finally:
        await stores.pool.release(late)
    await keeper.tick()
    assert await _books_through(stores, b.account_id) == held_id


class _CountedGrants:
    """The real grants store, noting which accounts `allocate` was asked for."""

    def __init__(self, grants: Any) -> None:
        self._grants = grants
        self.allocated: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._grants, name)

    async def allocate(self, account_id: str) -> int:
        self.allocated.append(account_id)
        return int(await self._grants.allocate(account_id))


async def test_a_second_keeper_skips_the_accounts_the_first_allocated(stores: Stores) -> None:
    """Every process's keeper sees every new entry; once one has allocated an account, the
    others read that it is done rather than each lock and allocate it again."""
    first = GrantKeeper(stores.grants(), stores.grant_write_offs())
    counted = _CountedGrants(stores.grants())
    second = GrantKeeper(counted, stores.grant_write_offs())
    await first.tick()
    await second.tick()  # both thorough passes done
    h = await make_holder(stores, credit=0)
    await _grant(stores, h, 1_000, "paid-h")
    await first.tick()
    assert await _books_through(stores, h.account_id) == await stores.grants().last_entry_id()
    counted.allocated.clear()
    await second.tick()
    assert h.account_id not in counted.allocated
    await _grant(stores, h, 500, "paid-h2")
    await second.tick()
    assert counted.allocated.count(h.account_id) == 1
