"""The runway where people look: seven days of calls a day apart (the gateway's clock moved
a day at a time), then GET /v1/account/runway states the rate, its basis and whole days
that the balance covers at it; a promotional grant ending before it is spent is counted
out; a postpaid account has none; `meterway billing status` and the dashboard say the same
words."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from playwright.async_api import Page

from billing.money.display import usd
from gateway.http.appkeys import GRANTS, LEDGER, NOTIFY, USAGE
from gateway.outbound.notify import WebhookSender
from gateway.services.trust.runway import Runways
from gateway.stores.redis.keys import shard_of
from gateway.workers.notifier import deliver_once, evaluate_once
from tests.e2e.cli.test_cli_billing import login, meterway
from tests.e2e.test_grants_api import credit, gateway_now
from tests.support.browser_kit import sign_in
from tests.support.factories import openai_client, tenant
from tests.support.fakes.webhook_sink import SECRET, webhook_sink
from tests.support.harness import Gateway

SCOPES = ["chat", "account:read", "billing:read", "usage:read"]
DAY_MS = 86_400_000


async def _runway(gw: Gateway, key: str) -> dict[str, Any]:
    async with gw.http.get(
        gw.url + "/v1/account/runway", headers={"Authorization": f"Bearer {key}"}
    ) as r:
        assert r.status == 200, await r.text()
        return dict(await r.json())


async def _a_week_of_calls(gw: Gateway, key: str) -> int:
    """One call a day on each of the seven days before today; the cost of one."""
    costs = []
    async with openai_client(gw, key) as client:
        for _ in range(7):
            raw = await client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=5
            )
            costs.append(int(raw.headers["x-meterway-cost-micros"]))
            await gw.settle_all()
            await gw.advance_clock(DAY_MS)
    assert len(set(costs)) == 1, costs
    return costs[0]


async def test_a_week_of_spend_gives_the_days_the_balance_covers(
    gw: Gateway, tmp_path: Path, page: Page
) -> None:
    t = await tenant(gw, credit=100, scopes=SCOPES)  # a few micros a call: weeks, not years
    fresh = await _runway(gw, t.key)
    assert fresh["words"] == "No spend in the last 7 days, so there is no forecast."
    cost = await _a_week_of_calls(gw, t.key)
    r = await _runway(gw, t.key)
    _, account = await gw.admin("GET", f"/admin/v1/accounts/{t.account_id}")
    available = account["available_micros"]
    assert r["prepaid"] and (r["rate_micros_per_day"], r["basis_days"]) == (cost, 7)
    assert r["days_left"] == available // cost and r["expires_unspent_micros"] == 0
    assert usd(cost) in r["words"] and "last 7 days' average and the last day" in r["words"]
    [month] = r["budgets"]  # the pro plan's $1,000 a month, a few micros a day: until it resets
    assert (month["window"], month["before_reset"]) == ("month", False)
    assert month["days_left"] == (month["limit_micros"] - month["used_micros"]) // cost

    login(tmp_path, t.key)
    run = await meterway(gw, tmp_path, "billing", "status")
    assert f"runway    {r['words']}" in run.out, run
    await sign_in(page, t.key)
    assert await page.inner_text("#forecast") == r["words"]

    fired = await _runway_events(gw, t.account_id, r["days_left"])
    assert fired == [("balance.runway", r["words"])]
    assert await _runway_events(gw, t.account_id, r["days_left"] - 1) == []  # not clear yet

    ends = await gateway_now(gw) + timedelta(days=2)
    await credit(
        gw, t.account_id, 5_000_000, "promo", kind="promotional", expires_at=ends.isoformat()
    )
    promo = await _runway(gw, t.key)
    assert promo["expires_unspent_micros"] == 5_000_000 - 2 * cost
    assert promo["days_left"] == r["days_left"] + 2  # only what is spent before it ends counts


async def _runway_events(gw: Gateway, account_id: str, days: int) -> list[tuple[str, str]]:
    """What the notifier sends, on a gateway of its own clock, for NOTIFY_RUNWAY_DAYS=days."""
    ledger = gw.app[NOTIFY]
    runways = Runways(gw.app[LEDGER], gw.store, gw.app[USAGE], gw.app[GRANTS])
    async with webhook_sink() as sink, aiohttp.ClientSession() as http:
        for _ in range(2):  # a second look changes nothing
            await evaluate_once(
                gw.store, ledger, 0, runway=runways.of, runway_days=days, operator=True
            )
        await deliver_once(ledger, [WebhookSender(http, sink.url, SECRET)])
        sent = sink.events(account_id)
    return [(e["type"], e["data"]["words"]) for e in sent if e["type"].startswith("balance.run")]


async def test_a_postpaid_account_has_no_runway(gw: Gateway) -> None:
    t = await tenant(gw, plan="enterprise", scopes=SCOPES)
    r = await _runway(gw, t.key)
    assert r["prepaid"] is False and "days_left" not in r
    assert r["words"] == "Postpaid: you are billed for what you use, so no credit runs out."
    assert all(b["days_left"] is None for b in r["budgets"])  # no spend yet: no forecast


async def test_a_balance_redis_lost_has_no_forecast(gw: Gateway) -> None:
    t = await tenant(gw, scopes=SCOPES)
    await gw.store.redis.delete(gw.store.keys.account(shard_of(t.account_id), t.account_id))
    r = await _runway(gw, t.key)
    assert r["prepaid"] is True and "days_left" not in r
    assert r["words"] == (
        "The balance is unknown until the operator rebuilds Redis, so there is no forecast."
    )
