"""A debit settled after the invoice of the time it happened (the settler was behind when
the invoice was issued) is on the account's next invoice, marked late with its month: over
every invoice of the account, each debit is on exactly one, and their usage lines sum to the
ledger's debits to the micro (docs/guides/invoices.md, "Late entries")."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.test_invoices import HI, MONTH, SCOPES, SELLER, issue
from tests.support.factories import ledger, openai_client, tenant
from tests.support.harness import Gateway, running_gateway


@pytest.fixture
async def gw(dsn: str) -> AsyncIterator[Gateway]:
    """No settler in the background: the test says when settlements reach the ledger."""
    async with running_gateway(dsn, None, SETTLER_DISABLED="1", **SELLER) as gateway:
        yield gateway
        await gateway.settle_all()


async def calls(gw: Gateway, key: str, n: int) -> None:
    async with openai_client(gw, key) as client:
        for _ in range(n):
            await client.chat.completions.create(model="gpt-4o", messages=HI, max_tokens=50)


async def test_a_debit_settled_after_its_invoice_is_on_the_next_one(gw: Gateway) -> None:
    t = await tenant(gw, plan="enterprise", credit=0, scopes=SCOPES)
    path = f"/admin/v1/accounts/{t.account_id}"
    status, _ = await gw.admin("PUT", f"{path}/plan", {"plan": "enterprise", "billing_ready": True})
    assert status == 200
    await calls(gw, t.key, 2)
    await gw.settle_all()  # two debits in the ledger
    await calls(gw, t.key, 3)  # three more, still in Redis's settlement stream

    status, first = await issue(gw, t.account_id)
    assert status == 201, first
    assert sum(ln["requests"] for ln in first["lines"]) == 2, first["lines"]

    await gw.settle_all()  # the three settle now, for a time the first invoice covered
    status, second = await issue(gw, t.account_id)
    assert status == 201, second
    late = [ln for ln in second["lines"] if ln["section"] == "usage"]
    assert [ln["label"] for ln in late] == [f"gpt-4o (late, {MONTH})"], late
    assert late[0]["requests"] == 3

    # Each debit on exactly one invoice; together they are the ledger's debits.
    debits = [r["amount_micros"] for r in await ledger(gw, t.account_id) if r["kind"] == "debit"]
    assert len(debits) == 5
    assert first["usage_micros"] + second["usage_micros"] == -sum(debits)
    status, third = await issue(gw, t.account_id)
    assert status == 201 and third["usage_micros"] == 0, third  # nothing twice
