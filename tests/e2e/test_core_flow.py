"""The vertical slice: the official openai SDK through Meterway, billed exactly."""

from __future__ import annotations

import openai
import pytest

from tests.support.factories import balance, ledger, openai_client, tenant
from tests.support.harness import Gateway

USAGE = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}


async def test_chat_completion_is_debited_exactly(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = USAGE
    async with openai_client(gw, t.key) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=600
        )
    completion = raw.parse()
    assert completion.choices[0].message.content
    # gpt-4o-mini: 1000 x $0.15/M + 500 x $0.60/M = 150 + 300 = 450 micros, exactly.
    assert raw.headers["x-meterway-cost-micros"] == "450"
    assert raw.headers["x-request-id"]
    await gw.settle_all()
    assert await balance(gw, t.account_id) == 1_000_000 - 450
    rows = await ledger(gw, t.account_id)
    debits = [r for r in rows if r["kind"] == "debit"]
    assert len(debits) == 1
    assert debits[0]["amount_micros"] == -450
    assert debits[0]["request_id"] == raw.headers["x-request-id"]
    assert debits[0]["usage_source"] == "provider"
    assert (debits[0]["input_tokens"], debits[0]["output_tokens"]) == (1000, 500)
    sent = gw.control.requests[-1]
    assert sent.headers.get("authorization", "").endswith("demo") or "mw-" not in str(sent.headers)


async def test_upstream_failure_is_not_billed(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.status = 500
    async with openai_client(gw, t.key) as client:
        with pytest.raises(openai.APIStatusError) as caught:
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
    assert caught.value.status_code == 502
    gw.control.reset()
    await gw.settle_all()
    assert await balance(gw, t.account_id) == 1_000_000
    _, body = await gw.admin("GET", f"/admin/v1/accounts/{t.account_id}")
    assert body["held_micros"] == 0
    assert [r for r in await ledger(gw, t.account_id) if r["kind"] == "debit"] == []
