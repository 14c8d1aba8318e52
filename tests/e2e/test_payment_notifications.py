"""Payment notifications (issue 15) through the local provider: payment.failed,
grace_period.ending and auto_topup.disabled (and their .resolved) reach a signed webhook sink
through the notify outbox, exactly once per occurrence, however often their cause repeats."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.http.appkeys import AUTO_TOPUPS, PAYMENTS
from gateway.services.money.payment.events import apply_event
from tests.support.billing_client import (
    DECLINED,
    NEEDS_AUTH,
    Biller,
    biller,
    books_balance,
    run_clock,
)
from tests.support.fakes.webhook_sink import SECRET, Sink, webhook_sink
from tests.support.harness import LOCAL_SINKS, Gateway, running_gateway

DAY_MS = 86_400_000
PAYMENT_EVENTS = ("payment.", "grace_period.", "auto_topup.")


@pytest.fixture
async def notified(dsn: str) -> AsyncIterator[tuple[Gateway, Sink]]:
    """A gateway whose notifier delivers every 0.1 s to a local sink."""
    async with webhook_sink() as sink:
        env = {
            **LOCAL_SINKS,
            "NOTIFY_WEBHOOK_URL": sink.url,
            "NOTIFY_WEBHOOK_SECRET": SECRET,
            "NOTIFY_INTERVAL_S": "0.1",
            "NOTIFY_BALANCE_LOW_MICROS": "0",
        }
        async with running_gateway(dsn, None, **env) as gw:
            yield gw, sink
            await gw.settle_all()


async def received(sink: Sink, b: Biller, count: int) -> list[tuple[str, dict[str, Any]]]:
    """The account's payment notifications once `count` arrived, and a moment more (so a
    duplicate would have arrived too)."""
    for _ in range(200):
        got = [e for e in sink.events(b.t.account_id) if e["type"].startswith(PAYMENT_EVENTS)]
        if len(got) >= count:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    assert sink.bad_signatures == 0
    got = [e for e in sink.events(b.t.account_id) if e["type"].startswith(PAYMENT_EVENTS)]
    return [(e["type"], e["data"]) for e in got]


async def test_payment_failed_once_per_failed_payment(notified: tuple[Gateway, Sink]) -> None:
    gw, sink = notified
    since = datetime.now(UTC)
    b = await biller(gw)
    page = await b.ok("POST", "/topups", {"amount_micros": 2_000_000})
    await b.pay(page["url"], DECLINED)
    await b.pay(page["url"], DECLINED)  # the page again: still one payment
    payments = gw.app[PAYMENTS]
    for event in await payments.provider.events_since(since):
        await apply_event(payments, event)  # every event delivered a second time
    got = await received(sink, b, 1)
    assert len(got) == 1
    kind, data = got[0]
    assert kind == "payment.failed"
    assert data["purpose"] == "topup" and data["amount_micros"] == 2_000_000
    assert data["failure"] == "card_declined" and data["payment_id"].startswith("pi_local_")
    assert await books_balance(gw, b.t.account_id) == 0


async def test_grace_period_ending_once_and_resolved_by_paying(
    notified: tuple[Gateway, Sink],
) -> None:
    gw, sink = notified
    b = await biller(gw)
    await b.save_card()
    await b.ok("POST", "/subscription", {"plan": "starter"})
    sub = (await b.state())["subscription"]["id"]
    portal = (await b.ok("POST", "/portal"))["url"]
    await b.page(portal + "/card", card=DECLINED)
    async with gw.http.post(f"{gw.url}/billing/local/subscriptions/{sub}/renew") as r:
        assert (await r.json())["events"][0] == "invoice.payment_failed"
    ends_at = (await b.state())["grace_period"]["ends_at"]
    assert [k for k, _ in await received(sink, b, 1)] == ["payment.failed"]
    for advance in (5 * DAY_MS, DAY_MS // 2):  # 2 and 1.5 days left: no notice yet
        await run_clock(gw, advance)
        assert [k for k, _ in await received(sink, b, 1)] == ["payment.failed"]
    for advance in (DAY_MS // 2 + 1000, 60_000, 60_000):  # the last day: one notice
        await run_clock(gw, advance)
    got = await received(sink, b, 2)
    assert got[1] == (
        "grace_period.ending",
        {"ends_at": ends_at, "url": "/v1/account/billing/portal"},
    )
    assert got[0][1]["purpose"] == "subscription" and got[0][1]["subscription_id"] == sub
    await b.page(portal + "/card", card="4242424242424242")  # pays the open invoice
    assert (await b.state())["grace_period"] is None
    got = await received(sink, b, 5)
    assert [k for k, _ in got] == [
        "payment.failed",
        "grace_period.ending",
        "payment.failed.resolved",
        "grace_period.ending.resolved",
        "payment.receipt",  # the renewal, paid at last: its receipt
    ]
    assert got[4][1]["lines"][0][0].startswith("Starter plan, ")
    assert await run_clock(gw, 3 * DAY_MS) == []
    assert len(await received(sink, b, 5)) == 5


async def test_auto_topup_disabled_once_then_resolved(notified: tuple[Gateway, Sink]) -> None:
    gw, sink = notified
    b = await biller(gw)
    await b.save_card(NEEDS_AUTH)  # declined off-session
    setting = {"threshold_micros": 2_000_000, "amount_micros": 5_000_000}
    setting |= {"monthly_cap_micros": 20_000_000}
    await b.ok("PUT", "/auto-topup", setting)
    checks = [await gw.app[AUTO_TOPUPS].check(b.t.account_id) for _ in range(5)]
    assert checks == ["failed", "failed", "failed", "not due", "not due"]
    got = await received(sink, b, 4)
    assert [k for k, _ in got] == ["payment.failed"] * 3 + ["auto_topup.disabled"]
    failed = [d["payment_id"] for _, d in got[:3]]
    assert len(set(failed)) == 3
    assert {d["failure"] for _, d in got[:3]} == {"authentication_required"}
    assert got[3][1] == {"failures": 3, "payment_id": failed[2], "amount_micros": 5_000_000}
    await b.ok("PUT", "/auto-topup", setting)  # the user turns it back on
    await b.ok("PUT", "/auto-topup", None)  # and off: no alert was open
    got = await received(sink, b, 5)
    assert got[4] == ("auto_topup.disabled.resolved", {"enabled": True})
    assert len(got) == 5
    assert await books_balance(gw, b.t.account_id) == 0
