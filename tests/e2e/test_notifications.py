"""Notifications: each crossing fires once, resolves only when clearly back, and arrives at a
local webhook sink signed with HMAC-SHA256 and retried under the same delivery id."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from gateway.http.appkeys import NOTIFY
from gateway.outbound.notify import WebhookSender
from gateway.workers.notifier import deliver_once, evaluate_once
from tests.support.factories import tenant
from tests.support.fakes.webhook_sink import SECRET, webhook_sink
from tests.support.harness import ADMIN_KEY, LOCAL_SINKS, Gateway, running_gateway
from tests.support.metering_client import Service, event, service


async def _spend(gw: Gateway, svc: Service, account: str, units: int, key: str) -> None:
    _, body = await svc.events([event(account, "api_calls", units, key)])
    assert body["debited"] == 1, body


async def _credit(gw: Gateway, account: str, amount: int, key: str) -> None:
    path = f"/admin/v1/accounts/{account}/credits"
    status, _ = await gw.admin("POST", path, {"amount_micros": amount, "idempotency_key": key})
    assert status == 201


def _summary(events: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    return [(e["type"], e["data"].get("level_pct", e["data"].get("metric"))) for e in events]


async def test_each_crossing_fires_once_with_hysteresis_and_signed_delivery(gw: Gateway) -> None:
    t = await tenant(gw, credit=6_000_000, plan="free")
    status, _ = await gw.admin(
        "PUT", f"/admin/v1/accounts/{t.account_id}/alerts", {"balance_low_micros": 1_500_000}
    )
    assert status == 200
    svc = await service(gw, "api_calls")
    ledger, store = gw.app[NOTIFY], gw.store

    async def step(action: Any = None) -> None:
        if action is not None:
            await action
        await gw.settle_all()
        await evaluate_once(store, ledger, 1_000_000)
        await evaluate_once(store, ledger, 1_000_000)  # a second look changes nothing

    async with webhook_sink() as sink, aiohttp.ClientSession() as http:
        sender = WebhookSender(http, sink.url, SECRET)
        sink.fail_next = 1
        await step(_spend(gw, svc, t.account_id, 2_600, "s1"))  # 52% of 5,000,000 spent
        await step(_spend(gw, svc, t.account_id, 1_500, "s2"))  # 82%
        await step(_spend(gw, svc, t.account_id, 1_000, "s3"))  # 102%, balance 900,000
        await step(_credit(gw, t.account_id, 700_000, "c1"))  # 1.6M: not clearly above 1.5M
        await step(_credit(gw, t.account_id, 100_000, "c2"))  # 1.7M >= 1.65M: resolved
        await step(_spend(gw, svc, t.account_id, 300, "s4"))  # 1.4M: low again
        await deliver_once(ledger, [sender])
        later = datetime.now(UTC) + timedelta(minutes=5)
        await deliver_once(ledger, [sender], now=later)
        await deliver_once(ledger, [sender], now=later)  # nothing left to send
    got = _summary(sink.events(t.account_id))
    # The first delivery (50%) failed once and arrived on its retry, after the others.
    assert got == [
        ("budget.threshold", 80),
        ("balance.low", None),
        ("budget.threshold", 100),
        ("quota.exhausted", "spend_micros"),
        ("balance.low.resolved", None),
        ("balance.low", None),
        ("budget.threshold", 50),
    ]
    assert sink.bad_signatures == 0
    mine = [e["id"] for e in sink.events(t.account_id)]
    assert len(set(mine)) == len(mine) == 7
    retried = [d for d in sink.deliveries if sink.deliveries.count(d) > 1]
    assert len(set(retried)) == 1 and retried[0] in {e["id"] for e in sink.received}


async def test_payment_events_through_the_outbox_port_once(gw: Gateway) -> None:
    t = await tenant(gw, credit=5_000_000)
    outbox = gw.app[NOTIFY]
    data = {"amount_micros": 20_000_000, "reason": "card_declined"}
    assert await outbox.emit(t.account_id, "payment.failed", data, "pi_123")
    assert not await outbox.emit(t.account_id, "payment.failed", data, "pi_123")
    assert await outbox.emit(t.account_id, "payment.failed.resolved", {}, "pi_123")
    async with webhook_sink() as sink, aiohttp.ClientSession() as http:
        await deliver_once(outbox, [WebhookSender(http, sink.url, SECRET)])
    assert [e["type"] for e in sink.events(t.account_id)] == [
        "payment.failed",
        "payment.failed.resolved",
    ]
    assert sink.events(t.account_id)[0]["data"] == data


async def test_background_notifier_delivers_when_configured(dsn: str) -> None:
    async with webhook_sink() as sink:
        env = {
            **LOCAL_SINKS,
            "NOTIFY_WEBHOOK_URL": sink.url,
            "NOTIFY_WEBHOOK_SECRET": SECRET,
            "NOTIFY_INTERVAL_S": "0.1",
            "NOTIFY_BALANCE_LOW_MICROS": "2000000",
        }
        async with running_gateway(dsn, None, **env) as gw:
            t = await tenant(gw, credit=1_000_000)
            for _ in range(200):
                if sink.events(t.account_id):
                    break
                await asyncio.sleep(0.05)
            assert [e["type"] for e in sink.events(t.account_id)] == ["balance.low"]
            operator = {"Authorization": f"Bearer {ADMIN_KEY}"}  # /readyz details
            async with gw.http.get(gw.url + "/readyz", headers=operator) as r:
                assert (await r.json())["tasks"]["notifier"]["running"] is True
            await gw.settle_all()
