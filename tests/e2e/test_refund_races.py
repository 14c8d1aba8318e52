"""An operator's refund races the account's open holds (issue 57, "What to build" 3): a
refund is decided against what the account has free and its money held before the provider
is asked, so requests racing it cannot spend what it gives back, and no account ends below
0. Before, a refund was booked whatever the balance: on a $15 top-up with $12 held by
running requests, refunds of $5 were all booked and the account owed money."""

from __future__ import annotations

import asyncio

from gateway.stores.records import KeyRecord
from gateway.stores.redis.keys import shard_of
from tests.support.billing_client import Biller, biller, books_balance, credits
from tests.support.harness import Gateway
from tests.support.invariants import money_violations

HOLD = 2_000_000


async def _topped_up(gw: Gateway) -> tuple[Biller, str, KeyRecord]:
    """An account with a $15 top-up: its refunds' path, and its key to hold with."""
    b = await biller(gw, plan="pro")
    await b.topup(15_000_000)
    payment_id = (await b.ok("GET", "/payments"))["data"][0]["id"]
    path = f"/admin/v1/accounts/{b.t.account_id}/payments/{payment_id}/refunds"
    return b, path, KeyRecord(b.t.key_id, b.t.account_id, shard_of(b.t.account_id), "k", (), ())


async def test_refunds_racing_holds_never_take_an_account_below_zero(gw: Gateway) -> None:
    b, path, record = await _topped_up(gw)

    async def reserve(n: int) -> str | None:
        rid = f"{b.t.account_id}:r{n}"
        decision = await gw.store.reserve(
            rid, record, input_tokens=10, max_output_tokens=10, spend_micros=HOLD
        )
        return rid if getattr(decision, "held_micros", None) == HOLD else None

    async def refund(n: int) -> int:
        body = {"amount_micros": 5_000_000, "idempotency_key": f"f{n}"}
        status, answer = await gw.admin("POST", path, body)
        assert status in (201, 400), answer
        return 5_000_000 if status == 201 else 0

    answers = await asyncio.gather(*(refund(n) for n in range(3)), *(reserve(n) for n in range(6)))
    refunded = sum(a for a in answers[:3] if isinstance(a, int))
    rids = [r for r in answers[3:] if isinstance(r, str)]
    assert refunded + HOLD * len(rids) <= 15_000_000, (refunded, rids)
    assert await money_violations(gw.stores(), [b.t.account_id]) == []
    for rid in rids:
        await gw.store.release(record.shard, b.t.account_id, rid)
    rows = await credits(gw, b.t.account_id, "refund")
    assert -sum(r["amount_micros"] for r in rows) == refunded
    assert await books_balance(gw, b.t.account_id) == 15_000_000 - refunded
    assert (await gw.store.balance(b.t.account_id) or (0, 1))[1] == 0  # no hold left


async def test_a_refund_of_money_held_by_running_requests_is_refused(gw: Gateway) -> None:
    b, path, record = await _topped_up(gw)
    for n in range(6):
        decision = await gw.store.reserve(
            f"{b.t.account_id}:h{n}", record, input_tokens=1, max_output_tokens=1,
            spend_micros=HOLD,
        )  # fmt: skip
        assert getattr(decision, "held_micros", None) == HOLD, decision
    status, err = await gw.admin("POST", path, {"amount_micros": 5_000_000, "idempotency_key": "x"})
    assert status == 400 and err["error"]["param"] == "amount_micros", err
    assert "$3.00 free" in err["error"]["message"], err
    status, ok = await gw.admin("POST", path, {"amount_micros": 3_000_000, "idempotency_key": "y"})
    assert status == 201, ok
    assert await money_violations(gw.stores(), [b.t.account_id]) == []
    assert await gw.store.balance(b.t.account_id) == (12_000_000, 12_000_000)
