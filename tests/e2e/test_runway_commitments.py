"""The runway of a prepaid account with a commitment (docs/guides/commitments.md): the
period's committed share not spent by its end leaves the balance then, so the runway is
the days to that end plus what the account's own money covers after it, and the share is
named as credit expiring unspent (GET /v1/account/runway)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.support.factories import openai_client, tenant
from tests.support.harness import Gateway

SCOPES = ["chat", "account:read", "billing:read", "usage:read"]
DAY_MS = 86_400_000
COMMITTED = 10_000_000  # $10 a month: years at a few micros a day, were it never written off


async def _get(gw: Gateway, key: str, path: str) -> dict[str, Any]:
    async with gw.http.get(gw.url + path, headers={"Authorization": f"Bearer {key}"}) as r:
        assert r.status == 200, await r.text()
        return dict(await r.json())


async def test_a_commitment_ending_with_its_period_counts_its_end(gw: Gateway) -> None:
    t = await tenant(gw, credit=100, scopes=SCOPES)
    async with openai_client(gw, t.key) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=5
        )
    cost = int(raw.headers["x-meterway-cost-micros"])
    await gw.settle_all()
    await gw.advance_clock(DAY_MS)  # yesterday's one call: the rate
    path = f"/admin/v1/accounts/{t.account_id}/commitment"
    status, body = await gw.admin(
        "PUT", path, {"period": "month", "amount_micros": COMMITTED, "billing": "prepaid"}
    )
    assert status == 200, body
    status, body = await gw.admin("DELETE", path)  # ends with its open period
    assert status == 200, body
    status, shown = await gw.admin("GET", path)
    period = shown["current_period"]
    left, ends = period["left_micros"], datetime.fromisoformat(period["ends_at"])
    _, account = await gw.admin("GET", f"/admin/v1/accounts/{t.account_id}")
    available, now_ms = account["available_micros"], await gw.store.now_ms()

    r = await _get(gw, t.key, "/v1/account/runway")
    assert r["rate_micros_per_day"] == cost
    before_end = -(-(int(ends.timestamp() * 1000) - now_ms) // DAY_MS)  # days begun before it
    unspent = max(0, left - before_end * cost)
    after = available - before_end * cost - unspent
    assert r["days_left"] == before_end + after // cost, (r, before_end, available, left)
    assert r["expires_unspent_micros"] == unspent > 0
