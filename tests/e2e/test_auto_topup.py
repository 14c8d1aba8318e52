"""Auto top-up with the local provider, under concurrent traffic: one charge per crossing."""

from __future__ import annotations

import asyncio

from openai.types.chat import ChatCompletionMessageParam

from gateway.http.appkeys import AUTO_TOPUPS, PAYMENTS
from gateway.services.money.auto_topup import AutoTopups
from tests.support.billing_client import NEEDS_AUTH, Biller, biller, books_balance
from tests.support.factories import openai_client
from tests.support.harness import Gateway

HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
THRESHOLD, AMOUNT, CAP = 2_000_000, 5_000_000, 10_000_000
WAVE = 20


async def auto_charges(gw: Gateway, account_id: str) -> list[tuple[str, int]]:
    rows = await gw.stores().pool.fetch(
        "SELECT status, amount_micros FROM payments WHERE account_id = $1"
        " AND purpose = 'auto_topup' ORDER BY created_at",
        account_id,
    )
    return [(r["status"], r["amount_micros"]) for r in rows]


async def wave(b: Biller) -> None:
    """WAVE concurrent calls of about 0.1 USD each (10,000 gpt-4o output tokens)."""
    await b.gw.advance_clock(70_000)  # a fresh tokens-per-minute window for each wave
    async with openai_client(b.gw, b.t.key) as client:
        await asyncio.gather(
            *(
                client.chat.completions.create(model="gpt-4o", messages=HI, max_tokens=10_000)
                for _ in range(WAVE)
            )
        )
    await b.gw.settle_all()
    await b.gw.app[AUTO_TOPUPS].drain()


async def armed(gw: Gateway, credit: int) -> Biller:
    b = await biller(gw, credit=credit, plan="pro")
    await b.save_card()
    setting = {"threshold_micros": THRESHOLD, "amount_micros": AMOUNT, "monthly_cap_micros": CAP}
    doc = await b.ok("PUT", "/auto-topup", setting)
    assert doc["auto_topup"]["enabled"]
    return b


async def test_one_charge_per_crossing_and_the_cap_holds(gw: Gateway) -> None:
    gw.control.usage = {"prompt_tokens": 8, "completion_tokens": 10_000, "total_tokens": 10_008}
    b = await armed(gw, 2_500_000)
    seen = []
    for _ in range(6):
        await wave(b)
        seen.append(len(await auto_charges(gw, b.t.account_id)))
        await books_balance(gw, b.t.account_id)  # ledger sum == balance after every wave
    # Waves cost ~2 USD each from 2.5 USD: crossings in waves 1, 3 and 6; the third would
    # pass the 10 USD monthly cap, so it is not charged.
    assert seen == [1, 1, 2, 2, 2, 2]
    assert await auto_charges(gw, b.t.account_id) == [("succeeded", AMOUNT)] * 2
    balance = await books_balance(gw, b.t.account_id)
    assert 0 < balance < THRESHOLD
    state = await b.state()
    assert state["auto_topup"]["enabled"] and state["auto_topup"]["failures"] == 0


async def test_concurrent_checks_from_many_processes_charge_once(gw: Gateway) -> None:
    b = await armed(gw, 1_000_000)  # already under the threshold
    payments = gw.app[PAYMENTS]
    outcomes = await asyncio.gather(
        *(AutoTopups(payments).check(b.t.account_id) for _ in range(12))
    )
    assert outcomes.count("credited") == 1, outcomes
    assert await auto_charges(gw, b.t.account_id) == [("succeeded", AMOUNT)]
    assert await books_balance(gw, b.t.account_id) == 1_000_000 + AMOUNT


async def test_three_failed_charges_turn_it_off(gw: Gateway) -> None:
    b = await armed(gw, 1_000_000)
    portal = (await b.ok("POST", "/portal"))["url"]
    await b.page(portal + "/card", card=NEEDS_AUTH)  # declined off-session
    auto = AutoTopups(gw.app[PAYMENTS])
    assert [await auto.check(b.t.account_id) for _ in range(4)] == [
        "failed",
        "failed",
        "failed",
        "not due",  # off: the hot record no longer carries a threshold
    ]
    state = (await b.state())["auto_topup"]
    assert not state["enabled"] and state["failures"] == 3
    assert state["off_reason"] == "turned off after 3 failed charges"
    assert await books_balance(gw, b.t.account_id) == 1_000_000
    assert [s for s, _ in await auto_charges(gw, b.t.account_id)] == ["failed"] * 3


async def test_auto_topup_needs_a_saved_method_and_sane_amounts(gw: Gateway) -> None:
    b = await biller(gw)
    setting = {"threshold_micros": 1, "amount_micros": AMOUNT, "monthly_cap_micros": CAP}
    status, doc = await b.call("PUT", "/auto-topup", setting)
    assert status == 400 and "payment method" in doc["error"]["message"]
    await b.save_card()
    status, _ = await b.call("PUT", "/auto-topup", {**setting, "monthly_cap_micros": 1})
    assert status == 400
    assert (await b.ok("PUT", "/auto-topup", setting))["auto_topup"]["enabled"]
    assert (await b.ok("PUT", "/auto-topup", None))["auto_topup"] is None
