"""Commitments end to end (issue 72): calls through the real proxy with the official OpenAI
SDK are drawn down from the account's commitment at request time, at its discount, then in
overage at the named rate, refused with `billing_required`, or charged to the balance; a
period's close writes the unused share (written off prepaid, a true-up in arrears) and the
capped rollover once, however often it runs; 200 concurrent calls never draw past the
allowance; and the ledger sums to every balance. Their invoices: test_commitment_invoices.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openai
import pytest

from billing.money.micros import ceil_div
from gateway.services.contracts.commitments import CommitmentPorts, close_due, close_period
from tests.e2e.test_invoices import MONTH, SELLER
from tests.support.dashboard_client import signed_in
from tests.support.factories import balance, ledger, openai_client, tenant
from tests.support.harness import (
    ADMIN_KEY,
    Gateway,
    config_dir_with,
    running_gateway,
    temp_database,
)
from tests.support.invariants import check_invariants

# $0.10 an input token, $1 an output token: a call of 10 in and 500 out lists at $501.
PRICES = """
[models."contract-chat"]
provider = "openai"
max_output_tokens = 4096
input = "100000.00"
output = "1000000.00"

[models."small-chat"]
provider = "openai"
max_output_tokens = 4096
input = "1.00"
output = "2.00"
"""
PLANS = """
[plans.contract]
mode = "prepaid"
"""
MESSAGES: Any = [{"role": "user", "content": "commit me"}]
USD = 1_000_000
LIST = 10 * 100_000 + 500 * 1_000_000  # 501,000,000 micros
QUARTERLY = {
    "period": "quarter",
    "amount_micros": 10_000 * USD,
    "billing": "prepaid",
    "discount_bps": 1000,
    "on_exhausted": "overage",
    "overage_bps": 2000,
    "rollover_bps": 1000,
    "rollover_cap_micros": 1_000 * USD,
}
FAR = datetime(2200, 1, 1, tzinfo=UTC)


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    async with temp_database() as dsn:
        config = config_dir_with(tmp_path, pricing=PRICES, plans=PLANS)
        async with running_gateway(dsn, None, MW_CONFIG_DIR=str(config), **SELLER) as gw:
            yield gw
            await gw.settle_all()


def usage(prompt: int, completion: int) -> dict[str, str]:
    body = {"usage": {"prompt_tokens": prompt, "completion_tokens": completion}}
    return {"x-fake-behaviour": json.dumps(body)}


async def chat(gw: Gateway, key: str, model: str = "contract-chat", completion: int = 500) -> int:
    """The call's cost as the answer's header says it (and its usage agrees)."""
    async with openai_client(gw, key, max_retries=0) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model=model, messages=MESSAGES, max_tokens=1000,
            extra_headers=usage(10, completion),
        )  # fmt: skip
    cost = int(raw.headers["x-meterway-cost-micros"])
    answer = raw.parse()
    assert answer.usage is not None and answer.usage.model_dump()["cost_micros"] == cost
    return cost


async def commit(gw: Gateway, account_id: str, **terms: Any) -> dict[str, Any]:
    path = f"/admin/v1/accounts/{account_id}/commitment"
    status, body = await gw.admin("PUT", path, terms)
    assert status == 200, body
    return dict(body)


async def shown(gw: Gateway, account_id: str) -> dict[str, Any]:
    status, body = await gw.admin("GET", f"/admin/v1/accounts/{account_id}/commitment")
    assert status == 200, body
    return dict(body)


def ports(gw: Gateway) -> CommitmentPorts:
    stores = gw.stores()
    return CommitmentPorts(stores.ledger, stores.commitments(), stores.store)


async def kinds(gw: Gateway, account_id: str, *names: str) -> list[int]:
    return [e["amount_micros"] for e in await ledger(gw, account_id) if e["kind"] in names]


async def check_commitment_holds(gw: Gateway, account_id: str) -> None:
    """Nothing is held against the commitment once every call settled."""
    fields = await gw.stores().store.commitments.fields(account_id)
    assert int(fields.get("cmh", "0")) == 0, fields


async def test_a_quarterly_commitment_is_used_up_then_billed_in_overage(gw: Gateway) -> None:
    t = await tenant(gw, plan="contract", credit=2_000 * USD)
    body = await commit(gw, t.account_id, **QUARTERLY)
    assert body["current_period"]["allowance_micros"] == 10_000 * USD
    assert await balance(gw, t.account_id) == 12_000 * USD  # prepaid: credited at the open
    discounted = ceil_div(LIST * 9000, 10_000)  # $450.90
    costs = [await chat(gw, t.key) for _ in range(21)]
    assert costs == [discounted] * 21  # each worst case ($900.90) still fit what was left
    # $531.10 is left of the commitment: less than the next call's worst case, so it is
    # billed at the overage rate, 20% over the account's price.
    assert await chat(gw, t.key) == ceil_div(LIST * 12_000, 10_000)
    assert await chat(gw, t.key) == ceil_div(LIST * 12_000, 10_000)
    await gw.settle_all()
    period = (await shown(gw, t.account_id))["current_period"]
    assert (period["drawn_micros"], period["held_micros"]) == (21 * discounted, 0)

    assert await close_due(ports(gw), FAR) == 1
    assert await close_due(ports(gw), FAR) == 1  # the next quarter: nothing drawn
    await gw.settle_all()
    unused = 10_000 * USD - 21 * discounted
    rolled = unused // 10  # 10%, under the cap
    written_off = await kinds(gw, t.account_id, "commitment_expire")
    assert written_off[-1] == -unused  # the first quarter's, written off once
    now = await shown(gw, t.account_id)
    first, second = now["periods"][-1], now["periods"][-2]
    assert (first["drawn_micros"], first["charged_micros"]) == (21 * discounted, unused)
    assert first["rolled_out_micros"] == rolled
    # The second quarter had its commitment and the rollover, drew nothing, wrote off its
    # whole commitment; the rollover's own grant ends with it (the grant keeper's `expire`).
    assert second["rolled_in_micros"] == rolled and second["drawn_micros"] == 0
    assert second["charged_micros"] == 10_000 * USD
    ends = await gw.stores().pool.fetch(
        "SELECT amount_micros, expires_at FROM credit_grants WHERE account_id = $1"
        " AND kind = 'commitment' AND expires_at IS NOT NULL",
        t.account_id,
    )
    # Each rollover lives through the next quarter only; the second's is capped at $1,000.
    assert sorted((r["expires_at"].isoformat(), r["amount_micros"]) for r in ends)[0] == (
        second["ends_at"],
        rolled,
    )
    assert 1_000 * USD in [r["amount_micros"] for r in ends]
    await check_commitment_holds(gw, t.account_id)
    await check_invariants(gw.stores(), [t.account_id])


async def test_new_terms_price_at_once_and_a_new_amount_waits_for_the_next_period(
    gw: Gateway,
) -> None:
    t = await tenant(gw, plan="contract", credit=0)
    await commit(gw, t.account_id, period="month", amount_micros=2_000 * USD, discount_bps=1000)
    assert await chat(gw, t.key) == ceil_div(LIST * 9000, 10_000)
    body = await commit(gw, t.account_id, period="month", amount_micros=5_000 * USD,
                        discount_bps=2000)  # fmt: skip
    assert body["amount_micros"] == 5_000 * USD
    assert body["current_period"]["committed_micros"] == 2_000 * USD
    assert await chat(gw, t.key) == ceil_div(LIST * 8000, 10_000)
    await gw.settle_all()
    assert await balance(gw, t.account_id) == 2_000 * USD - ceil_div(LIST * 9000, 10_000) - (
        ceil_div(LIST * 8000, 10_000)
    )  # prepaid once: the same period's credit is not taken again
    await check_invariants(gw.stores(), [t.account_id])


async def test_refuse_answers_billing_required_and_balance_draws_the_balance(
    gw: Gateway,
) -> None:
    refuse = await tenant(gw, plan="contract", credit=5_000 * USD)
    await commit(gw, refuse.account_id, period="month", amount_micros=1_000 * USD,
                 discount_bps=1000, on_exhausted="refuse")  # fmt: skip
    assert await chat(gw, refuse.key) == ceil_div(LIST * 9000, 10_000)
    with pytest.raises(openai.APIStatusError) as refused:
        await chat(gw, refuse.key)  # $549.10 left, the worst case is $900.90
    assert refused.value.status_code == 402
    error = refused.value.body
    assert isinstance(error, dict) and error["code"] == "billing_required", error
    assert error["reason"] == "commitment_exhausted" and "commitment" in error["message"]
    # A top-up lifts nothing here: the step is the operator's (raise or renew the
    # commitment, or let calls past it), never paying in.
    said = (error["message"] + " " + error["next"]["reason"]).lower()
    assert error["next"]["action"] == "contact_sales", error
    assert "top" not in error["next"]["command"] and "add credit" not in said, error
    assert "operator" in said and "raise" in said and "overage" in said, error
    # A cheaper call still fits what is left.
    assert await chat(gw, refuse.key, "small-chat") == ceil_div((10 + 1000) * 9000, 10_000)

    arrears = {"period": "month", "amount_micros": USD, "billing": "arrears"}
    status, body = await gw.admin(
        "PUT", f"/admin/v1/accounts/{refuse.account_id}/commitment", arrears
    )
    assert status == 409 and body["error"]["param"] == "billing", body  # prepaid account

    spill = await tenant(gw, plan="contract", credit=5_000 * USD)
    await commit(gw, spill.account_id, period="month", amount_micros=1_000 * USD,
                 discount_bps=1000, on_exhausted="balance")  # fmt: skip
    assert await chat(gw, spill.key) == ceil_div(LIST * 9000, 10_000)
    assert await chat(gw, spill.key) == LIST  # from the balance, at the account's price
    await gw.settle_all()
    assert await balance(gw, spill.account_id) == 6_000 * USD - ceil_div(LIST * 9000, 10_000) - LIST
    for t in (refuse, spill):
        await check_commitment_holds(gw, t.account_id)
    await check_invariants(gw.stores(), [refuse.account_id, spill.account_id])


async def test_a_shortfall_in_arrears_is_billed_once(gw: Gateway) -> None:
    t = await tenant(gw, plan="enterprise", credit=0)
    path = f"/admin/v1/accounts/{t.account_id}"
    status, _ = await gw.admin("PUT", f"{path}/plan", {"plan": "enterprise", "billing_ready": True})
    assert status == 200
    await commit(gw, t.account_id, period="month", amount_micros=2_000 * USD, billing="arrears",
                 rollover_bps=500, rollover_cap_micros=10 * USD)  # fmt: skip
    assert await balance(gw, t.account_id) == 0  # nothing up front in arrears
    assert await chat(gw, t.key) == LIST
    await gw.settle_all()
    [row] = await gw.stores().commitments().due(FAR)
    await close_period(ports(gw), row)
    await close_period(ports(gw), row)  # a keeper's successor after a crash, or a second one
    await gw.settle_all()
    shortfall = 2_000 * USD - LIST
    assert await kinds(gw, t.account_id, "true_up") == [-shortfall]
    rolled = [e for e in await ledger(gw, t.account_id) if e["kind"] == "credit"]
    assert [e["amount_micros"] for e in rolled] == [10 * USD]  # 5% is $74.95, capped at $10
    assert await balance(gw, t.account_id) == -LIST - shortfall + 10 * USD
    # The month's invoice bills the usage and the shortfall, each once, as the ledger has them.
    details = {"legal_name": "Contract Co", "address": ["1 Main St"], "country": "US"}
    assert (await gw.admin("PUT", f"{path}/invoicing", details))[0] == 200
    status, invoice = await gw.admin("POST", f"{path}/invoices", {"month": MONTH})
    assert status == 201, invoice
    lines = {ln["section"]: ln["amount_micros"] for ln in invoice["lines"]}
    assert (lines["usage"], lines["commitment"]) == (LIST, shortfall)
    assert invoice["subtotal_minor"] == (LIST + shortfall) // 10_000  # cents, exact here
    # Ended, the commitment still closes its open month as agreed, then nothing is committed.
    status, body = await gw.admin("DELETE", f"{path}/commitment")
    assert status == 200 and body["ends_at"] is not None, body
    assert await close_due(ports(gw), FAR) == 1
    assert await close_due(ports(gw), FAR) == 0
    assert sorted(await kinds(gw, t.account_id, "true_up")) == [-2_000 * USD, -shortfall]
    assert "cme" not in await gw.stores().store.commitments.fields(t.account_id)
    assert await chat(gw, t.key) == LIST  # the account's own price again
    await gw.settle_all()
    await check_invariants(gw.stores(), [t.account_id])


async def test_a_prepaid_write_off_leaves_what_a_running_call_holds(gw: Gateway) -> None:
    """The period closes while a call holds most of the balance: the write-off takes only
    what is free, and the period records what the ledger took, however often it closes."""
    t = await tenant(gw, plan="contract", credit=0)
    await commit(gw, t.account_id, period="month", amount_micros=1_000 * USD,
                 discount_bps=1000, on_exhausted="refuse")  # fmt: skip
    gw.control.delay_s = 3.0
    running = asyncio.create_task(chat(gw, t.key))
    for _ in range(200):
        if (await shown(gw, t.account_id))["current_period"]["held_micros"]:
            break
        await asyncio.sleep(0.02)
    held = (await shown(gw, t.account_id))["current_period"]["held_micros"]
    assert held > 900 * USD  # the worst case of 1,000 output tokens at $0.90
    [row] = await gw.stores().commitments().due(FAR)
    await close_period(ports(gw), row)
    await close_period(ports(gw), row)  # a keeper's successor after a crash
    free = 1_000 * USD - held
    assert await kinds(gw, t.account_id, "commitment_expire") == [-free]
    first = (await shown(gw, t.account_id))["periods"][-1]
    assert (first["drawn_micros"], first["charged_micros"]) == (0, free)
    assert await running == ceil_div(LIST * 9000, 10_000)  # the call ends and is billed
    await gw.settle_all()
    await check_commitment_holds(gw, t.account_id)
    await check_invariants(gw.stores(), [t.account_id])


async def test_two_hundred_concurrent_calls_never_draw_past_the_allowance(gw: Gateway) -> None:
    t = await tenant(gw, plan="contract", credit=100 * USD)
    # $0.01 commitment at list price: each call's worst case is 2,010 micros, its cost 1,010.
    await commit(gw, t.account_id, period="month", amount_micros=10_000, on_exhausted="refuse")

    async def one() -> int:
        try:
            return await chat(gw, t.key, "small-chat")
        except openai.APIStatusError as exc:
            assert exc.status_code == 402, exc.body
            return 0

    costs = await asyncio.gather(*(one() for _ in range(200)))
    await gw.settle_all()
    drawn = sum(costs)
    assert 0 < drawn <= 10_000
    assert all(c in (0, 1010) for c in costs)
    fields = await gw.stores().store.commitments.fields(t.account_id)
    assert int(fields["cmu"]) == drawn and int(fields["cmh"]) == 0
    await check_invariants(gw.stores(), [t.account_id])


async def test_the_keeper_closes_a_period_at_its_end_on_the_gateway_clock(gw: Gateway) -> None:
    async with gw.http.get(
        gw.url + "/readyz", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    ) as r:
        assert "commitment_keeper" in (await r.json())["tasks"]
    t = await tenant(gw, plan="contract", credit=5_000 * USD)
    body = await commit(gw, t.account_id, period="month", amount_micros=1_000 * USD,
                        discount_bps=1000)  # fmt: skip
    discounted = ceil_div(LIST * 9000, 10_000)
    assert await chat(gw, t.key) == discounted
    await gw.settle_all()
    ends = datetime.fromisoformat(body["current_period"]["ends_at"])
    now = datetime.fromtimestamp(await gw.store.now_ms() / 1000, UTC)
    await gw.advance_clock(int((ends - now).total_seconds() * 1000) + 1_000)
    for _ in range(100):
        closed = [p for p in (await shown(gw, t.account_id))["periods"] if p["closed_at"]]
        if closed:
            break
        await asyncio.sleep(0.2)
    [first] = closed
    assert (first["drawn_micros"], first["charged_micros"]) == (
        discounted,
        1_000 * USD - discounted,
    )
    await gw.settle_all()
    # 5,000 + 1,000 prepaid, the call, the unused 1,000 - call written off, the next 1,000.
    assert await balance(gw, t.account_id) == 6_000 * USD
    period = (await shown(gw, t.account_id))["current_period"]
    assert period["starts_at"] == first["ends_at"] and period["drawn_micros"] == 0
    assert await chat(gw, t.key) == discounted  # the new month's commitment
    await gw.settle_all()
    await check_invariants(gw.stores(), [t.account_id])


async def _page(gw: Gateway, path: str, credential: str = ADMIN_KEY) -> str:
    """A dashboard page as `credential` reads it once signed in (the operator's key by
    default)."""
    async with await signed_in(gw, credential) as http, http.get(gw.url + path) as r:
        assert r.status == 200, await r.text()
        return await r.text()


async def test_the_customer_reads_its_own_commitment_and_the_operator_sees_every_one(
    gw: Gateway,
) -> None:
    """`GET /v1/account/commitment` shows the account's own terms and live drawdown, no
    other account's; the operators' Commitments page lists each open period."""
    scopes = ["chat", "account:read", "billing:read"]
    t = await tenant(gw, plan="contract", credit=0, scopes=scopes)
    other = await tenant(gw, plan="contract", credit=2_000 * USD, scopes=scopes)
    await commit(gw, t.account_id, **QUARTERLY)
    cost = await chat(gw, t.key)
    await gw.settle_all()
    headers = {"Authorization": f"Bearer {t.key}"}
    async with gw.http.get(gw.url + "/v1/account/commitment", headers=headers) as r:
        own = await r.json()
    assert r.status == 200, own
    assert own == await shown(gw, t.account_id)  # what the operator's GET answers
    assert own["account_id"] == t.account_id and own["discount_bps"] == 1000
    assert (own["current_period"]["drawn_micros"], own["current_period"]["held_micros"]) == (
        cost,
        0,
    )
    headers = {"Authorization": f"Bearer {other.key}"}
    async with gw.http.get(gw.url + "/v1/account/commitment", headers=headers) as r:
        theirs = await r.json()
    assert (r.status, theirs["active"], theirs["account_id"]) == (200, False, other.account_id)

    page = await _page(gw, "/dashboard/operators/commitments")
    row = page.split(f'<tr data-account="{t.account_id}">', 1)[1].split("</tr>", 1)[0]
    assert "quarter" in row and "$10,000.00" in row and "overage at +2000 bps" in row, row
    assert cost == 450_900_000 and "$9,549.10" in row, row  # left: $10,000 less $450.90
    assert other.account_id not in page
    billing = await _page(gw, "/dashboard/billing", t.key)
    card = billing.split('id="commitment"', 1)[1].split("</section>", 1)[0]
    assert "$10,000.00 a quarter" in card and "$9,549.10" in card, card
    assert 'id="commitment"' not in await _page(gw, "/dashboard/billing", other.key)
    assert own["current_period"]["left_micros"] == 10_000 * USD - cost


async def test_every_surface_shows_the_same_left_while_a_call_holds(gw: Gateway) -> None:
    """What is left is the allowance less what was drawn and what running calls hold, the
    same in the API, the operators' page and the customer's Billing card."""
    t = await tenant(gw, plan="contract", credit=0, scopes=["chat", "account:read", "billing:read"])
    await commit(gw, t.account_id, **QUARTERLY)
    gw.control.delay_s = 2.0
    running = asyncio.create_task(chat(gw, t.key))
    for _ in range(200):
        if (await shown(gw, t.account_id))["current_period"].get("held_micros"):
            break
        await asyncio.sleep(0.02)
    period = (await shown(gw, t.account_id))["current_period"]
    assert period["held_micros"] > 900 * USD and period["drawn_micros"] == 0
    left = period["left_micros"]
    assert left == 10_000 * USD - period["held_micros"]
    money = f"${left / USD:,.2f}"
    page = await _page(gw, "/dashboard/operators/commitments")
    row = page.split(f'<tr data-account="{t.account_id}">', 1)[1].split("</tr>", 1)[0]
    billing = await _page(gw, "/dashboard/billing", t.key)
    card = billing.split('id="commitment-left">', 1)[1].split("</span>", 1)[0]
    assert money in row and card == money, (money, row, card)
    assert await running == ceil_div(LIST * 9000, 10_000)
    await gw.settle_all()
    await check_invariants(gw.stores(), [t.account_id])
