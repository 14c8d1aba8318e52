"""A commitment on invoices (issue 72, docs/guides/invoices.md#lines), end to end through
the real proxy with the official OpenAI SDK: a prepaid period's prepayment is charged once
and the usage it covered is charged back (`applied`) over the period's invoices exactly as
it drew; a prepaid account is invoiced for its commitment alone; an open period whose
drawdown Redis cannot say is charged back once its close records it; no operator's key can
pass for a prepayment. Each ends with invoice lines summing to the ledger and the ledger to
every balance."""

from __future__ import annotations

from typing import Any

from billing.money.micros import ceil_div
from gateway.services.contracts.commitments import close_due
from tests.e2e.test_commitments import (
    FAR,
    LIST,
    QUARTERLY,
    USD,
    chat,
    check_commitment_holds,
    commit,
    gw,
    ports,
    shown,
)
from tests.e2e.test_invoices import MONTH
from tests.support.factories import tenant
from tests.support.harness import ADMIN_KEY, Gateway
from tests.support.invariants import check_invariants

__all__ = ["gw"]  # the commitments' gateway fixture (its prices and plans)


async def invoice(gw: Gateway, account_id: str) -> dict[str, Any]:
    """The account's invoice of this month so far (from where its last one ended)."""
    status, body = await gw.admin("POST", f"/admin/v1/accounts/{account_id}/invoices",
                                  {"month": MONTH})  # fmt: skip
    assert status == 201, body
    return dict(body)


def charged(inv: dict[str, Any], section: str, label: str = "") -> list[int]:
    return [
        ln["amount_micros"] for ln in inv["lines"]
        if ln["section"] == section and ln["label"].startswith(label)
    ]  # fmt: skip


def lines_sum_to_ledger(inv: dict[str, Any]) -> None:
    assert sum(charged(inv, "usage")) == inv["usage_micros"]
    subtotal = sum(
        ln["amount_micros"] for ln in inv["lines"]
        if ln["section"] in ("usage", "adjustment", "commitment", "applied")
    )  # fmt: skip
    assert inv["subtotal_minor"] == subtotal // 10_000, inv  # USD cents, exact here


async def test_a_postpaid_prepaid_commitment_is_invoiced_once_and_covers_its_usage(
    gw: Gateway,
) -> None:
    """A postpaid account buys $10,000 a quarter up front: its first invoice charges the
    prepayment and charges back the usage it covered, the next invoices bill only the
    overage, and over the quarter's invoices what is charged back is what it drew, once."""
    t = await tenant(gw, plan="enterprise", credit=0)
    path = f"/admin/v1/accounts/{t.account_id}"
    status, _ = await gw.admin("PUT", f"{path}/plan", {"plan": "enterprise", "billing_ready": True})
    assert status == 200
    await commit(gw, t.account_id, **QUARTERLY)
    details = {"legal_name": "Contract Co", "address": ["1 Main St"], "country": "US"}
    assert (await gw.admin("PUT", f"{path}/invoicing", details))[0] == 200
    discounted, overage = ceil_div(LIST * 9000, 10_000), ceil_div(LIST * 12_000, 10_000)
    assert [await chat(gw, t.key) for _ in range(10)] == [discounted] * 10
    await gw.settle_all()
    first = await invoice(gw, t.account_id)
    assert charged(first, "commitment") == [10_000 * USD]
    assert charged(first, "usage") == [10 * discounted]
    assert charged(first, "applied") == [-10 * discounted]
    lines_sum_to_ledger(first)
    assert first["subtotal_minor"] == 10_000 * 100  # the prepayment, nothing more
    # No operator's credit can pass for a prepayment (nor take the keeper's keys).
    for what, amount in (("credits", 10 * USD), ("adjustments", -USD)):
        body = {"amount_micros": amount, "idempotency_key": f"commitment:1:{what}:prepaid",
                "reason": "looks like a prepayment"}  # fmt: skip
        status, refused = await gw.admin("POST", f"{path}/{what}", body)
        assert status == 400 and refused["error"]["param"] == "idempotency_key", refused

    costs = [await chat(gw, t.key) for _ in range(13)]
    assert costs == [discounted] * 11 + [overage] * 2
    await gw.settle_all()
    second = await invoice(gw, t.account_id)
    assert charged(second, "commitment") == []  # bought once
    assert charged(second, "applied") == [-11 * discounted]
    lines_sum_to_ledger(second)
    assert second["subtotal_minor"] == 2 * overage // 10_000  # only the overage

    # The quarter closes: its next one is bought, and nothing it drew is charged back twice.
    assert await close_due(ports(gw), FAR) == 1
    await gw.settle_all()
    drawn = (await shown(gw, t.account_id))["periods"][-1]["drawn_micros"]
    assert drawn == 21 * discounted
    third = await invoice(gw, t.account_id)
    assert charged(third, "commitment", "commitment prepaid") == [10_000 * USD]
    assert charged(third, "applied") == [] and charged(third, "usage") == []
    applied = [m for inv in (first, second, third) for m in charged(inv, "applied")]
    assert sum(applied) == -drawn  # each drawn micro charged back once
    await check_commitment_holds(gw, t.account_id)
    await check_invariants(gw.stores(), [t.account_id])


async def test_a_prepaid_account_with_a_commitment_is_invoiced_for_the_commitment_only(
    gw: Gateway,
) -> None:
    """Its usage was paid from the commitment and from its balance (bought by top-ups): the
    invoice lists it and charges back both, so it charges the commitment alone."""
    t = await tenant(gw, plan="contract", credit=5_000 * USD)
    await commit(gw, t.account_id, period="month", amount_micros=1_000 * USD,
                 discount_bps=1000, on_exhausted="balance")  # fmt: skip
    discounted = ceil_div(LIST * 9000, 10_000)
    assert await chat(gw, t.key) == discounted
    assert await chat(gw, t.key) == LIST  # past the commitment: from the balance
    await gw.settle_all()
    inv = await invoice(gw, t.account_id)
    assert charged(inv, "commitment") == [1_000 * USD]
    assert charged(inv, "usage") == [discounted + LIST]
    assert sorted(charged(inv, "applied")) == [-LIST, -discounted]
    assert charged(inv, "applied", "paid from the balance") == [-LIST]
    lines_sum_to_ledger(inv)
    assert inv["subtotal_minor"] == 1_000 * 100
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with gw.http.get(f"{gw.url}/admin/v1/invoices/{inv['number']}?format=pdf",
                           headers=headers) as r:  # fmt: skip
        pdf = await r.read()
    assert r.status == 200 and b"(Paid in advance) Tj" in pdf and b"(Commitments) Tj" in pdf
    await check_invariants(gw.stores(), [t.account_id])


async def test_a_drawdown_redis_cannot_say_is_charged_back_once_the_close_records_it(
    gw: Gateway,
) -> None:
    """The open period's drawdown is Redis's figure: when the account's hash has lost the
    period, an invoice charges back nothing for it (never a guess), and the first invoice
    after its close charges back what the close recorded (from the ledger's debits)."""
    t = await tenant(gw, plan="enterprise", credit=0)
    path = f"/admin/v1/accounts/{t.account_id}"
    status, _ = await gw.admin("PUT", f"{path}/plan", {"plan": "enterprise", "billing_ready": True})
    assert status == 200
    await commit(gw, t.account_id, period="month", amount_micros=2_000 * USD, discount_bps=1000)
    discounted = ceil_div(LIST * 9000, 10_000)
    assert await chat(gw, t.key) == discounted
    await gw.settle_all()
    await gw.stores().store.commitments.end(t.account_id)  # the hash forgets the period
    first = await invoice(gw, t.account_id)
    assert charged(first, "commitment") == [2_000 * USD]
    assert charged(first, "usage") == [discounted] and charged(first, "applied") == []
    lines_sum_to_ledger(first)

    assert await close_due(ports(gw), FAR) == 1
    await gw.settle_all()
    assert (await shown(gw, t.account_id))["periods"][-1]["drawn_micros"] == discounted
    second = await invoice(gw, t.account_id)
    assert charged(second, "applied") == [-discounted]
    lines_sum_to_ledger(second)
    await check_invariants(gw.stores(), [t.account_id])
