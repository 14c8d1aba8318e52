"""Usage exports against local fakes of Stripe's meter-event endpoint and of Lago: each
ledger debit arrives once, even when the exporter crashes between sending and recording."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from billing.usage.exports import Attempt
from gateway.outbound.exports import LagoSink, StripeMeterSink
from gateway.stores.postgres.usage.exports import ExportLedger
from gateway.workers.exporter import export_all, export_once
from tests.support.factories import tenant
from tests.support.fakes.meter_events import running_fake
from tests.support.harness import ADMIN_KEY, LOCAL_SINKS, Gateway, gateway_env, running_gateway
from tests.support.metering_client import event, service


class CrashBeforeRecording(ExportLedger):
    """The exporter dies after the receiver answered and before the rows are marked."""

    async def mark(self, target: str, attempt: Attempt, now: datetime) -> None:
        raise ConnectionResetError("exporter killed")


async def _usage(gw: Gateway, n: int, **mapping: str) -> tuple[str, int]:
    t = await tenant(gw, credit=10_000_000)
    status, _ = await gw.admin("PUT", f"/admin/v1/accounts/{t.account_id}/export-ids", mapping)
    assert status == 200
    svc = await service(gw, "api_calls")
    _, body = await svc.events([event(t.account_id, "api_calls", i + 1, f"e{i}") for i in range(n)])
    assert body["debited"] == n
    await gw.settle_all()
    return t.account_id, sum(i + 1 for i in range(n)) * 1000


async def test_stripe_export_resend_after_a_crash_sends_nothing_twice(gw: Gateway) -> None:
    account, cost = await _usage(gw, 30, stripe_customer_id="cus_T1")
    ledger = ExportLedger(gw.stores().pool)
    async with running_fake("stripe") as fake, aiohttp.ClientSession() as http:
        sink = StripeMeterSink(http, "sk_test_x", "meterway_spend", fake.url)
        with pytest.raises(ConnectionResetError):
            await export_once(CrashBeforeRecording(ledger.pool), sink)
        assert len(fake.events) == 30 and fake.total() == cost
        report = await export_all(ledger, sink)
        assert (report.sent, report.failed) == (30, 0)
        assert fake.duplicates == 30  # resent with the same identifiers, dropped by Stripe
        assert len(fake.events) == 30 and fake.total() == cost
        assert (await export_all(ledger, sink)).sent == 0  # recorded: nothing is due
        assert fake.posts == 60
    assert {e["stripe_customer_id"] for e in fake.events.values()} == {"cus_T1"}
    assert {e["event_name"] for e in fake.events.values()} == {"meterway_spend"}
    assert all(key.startswith("mw-debit-mev_") for key in fake.events)
    assert set(fake.auth) == {"Bearer sk_test_x"}
    assert account


async def test_lago_export_batches_and_resends_nothing_twice(gw: Gateway) -> None:
    _, cost = await _usage(gw, 150, lago_subscription_id="sub_L1")
    ledger = ExportLedger(gw.stores().pool)
    async with running_fake("lago") as fake, aiohttp.ClientSession() as http:
        sink = LagoSink(http, fake.url, "lago_key", "meterway_usage")
        with pytest.raises(ConnectionResetError):
            await export_once(CrashBeforeRecording(ledger.pool), sink)
        assert fake.posts == 2  # 150 events in batches of at most 100
        report = await export_all(ledger, sink)
        assert report.sent == 150 and fake.duplicates == 150
    assert len(fake.events) == 150 and fake.total("cost_micros") == cost
    sample = next(iter(fake.events.values()))
    assert (sample["external_subscription_id"], sample["code"], sample["meter"]) == (
        "sub_L1",
        "meterway_usage",
        "api_calls",
    )


async def test_failures_wait_for_their_backoff_then_succeed(gw: Gateway) -> None:
    account, _ = await _usage(gw, 3, stripe_customer_id="cus_T2")
    ledger = ExportLedger(gw.stores().pool)
    async with running_fake("stripe") as fake, aiohttp.ClientSession() as http:
        fake.fail_next = 3
        sink = StripeMeterSink(http, "sk", "ev", fake.url)
        first = await export_once(ledger, sink)
        assert (first.sent, first.failed) == (0, 3)
        assert (await export_once(ledger, sink)).failed == 0  # not due yet: nothing sent
        later = datetime.now(UTC) + timedelta(seconds=31)
        retried = await export_once(ledger, sink, now=lambda: later)
        assert retried.sent == 3 and len(fake.events) == 3
    assert (await ledger.counts("stripe", account)) == {"sent": 3}


async def test_stripe_35_day_limit_expires_rows_lago_still_gets_them(gw: Gateway) -> None:
    t = await tenant(gw, credit=10_000_000)
    mapping = {"stripe_customer_id": "cus_T3", "lago_subscription_id": "sub_T3"}
    await gw.admin("PUT", f"/admin/v1/accounts/{t.account_id}/export-ids", mapping)
    svc = await service(gw, "api_calls")
    old = event(t.account_id, "api_calls", 1, "old")
    old["occurred_at"] = (
        datetime.now(UTC) - timedelta(days=35) + timedelta(minutes=30)
    ).isoformat()
    _, body = await svc.events([old, event(t.account_id, "api_calls", 2, "new")])
    assert body["debited"] == 2
    await gw.settle_all()
    ledger = ExportLedger(gw.stores().pool)
    async with (
        running_fake("stripe") as stripe,
        running_fake("lago") as lago,
        aiohttp.ClientSession() as http,
    ):
        report = await export_all(ledger, StripeMeterSink(http, "sk", "ev", stripe.url))
        assert (report.sent, report.expired) == (1, 1)
        assert (await export_all(ledger, LagoSink(http, lago.url, "k", "c"))).sent == 2
    assert [e["value"] for e in stripe.events.values()] == ["2000"]
    assert len(lago.events) == 2


async def test_cli_dry_run_prints_and_sends_nothing(gw: Gateway) -> None:
    await _usage(gw, 2, stripe_customer_id="cus_T4")
    async with running_fake("stripe") as fake:
        env = {
            **os.environ,
            **gateway_env(gw.settings.database_url, "http://127.0.0.1:9", gw.settings.redis_prefix),
            "STRIPE_METER_EVENT_NAME": "mw_spend",
            "STRIPE_API_KEY": "sk_cli",
            "STRIPE_API_BASE": fake.url,
            **LOCAL_SINKS,
        }
        dry = await _cli(env, "export", "stripe-meters", "--dry-run")
        lines = [json.loads(line) for line in dry.splitlines()]
        assert len(lines) >= 2 and {line["event_name"] for line in lines} == {"mw_spend"}
        assert fake.posts == 0
        sent = await _cli(env, "export", "stripe-meters")
        assert sent.startswith("stripe-meters: sent ") and fake.posts == len(fake.events) >= 2
        assert await _cli(env, "export", "stripe-meters", "--dry-run") == ""


async def _cli(env: dict[str, str], *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def test_background_exporter_runs_supervised_when_configured(dsn: str) -> None:
    async with running_fake("stripe") as fake:
        env = {
            "STRIPE_METER_EVENT_NAME": "bg",
            "STRIPE_API_KEY": "sk_bg",
            "STRIPE_API_BASE": fake.url,
            **LOCAL_SINKS,
            "EXPORT_INTERVAL_S": "0.1",
        }
        async with running_gateway(dsn, None, **env) as gw:
            account, cost = await _usage(gw, 4, stripe_customer_id="cus_BG")
            operator = {"Authorization": f"Bearer {ADMIN_KEY}"}  # /readyz details: operator only
            async with gw.http.get(gw.url + "/readyz", headers=operator) as r:
                ready = await r.json()
            assert ready["tasks"]["export-stripe"]["running"] is True
            for _ in range(200):
                mine = [e for e in fake.events.values() if e["stripe_customer_id"] == "cus_BG"]
                if len(mine) == 4:
                    break
                await asyncio.sleep(0.05)
            assert sum(int(e["value"]) for e in mine) == cost
            assert account


async def test_lago_events_carry_the_metering_metadata(gw: Gateway) -> None:
    """Stripe's meter events take only a customer and a value; Lago's properties take the
    metadata object a service sent, as the ledger row keeps it."""
    t = await tenant(gw, credit=10_000_000)
    mapping = {"lago_subscription_id": "sub_M1"}
    status, _ = await gw.admin("PUT", f"/admin/v1/accounts/{t.account_id}/export-ids", mapping)
    assert status == 200
    svc = await service(gw, "api_calls")
    tagged = {**event(t.account_id, "api_calls", 2, "m1"), "metadata": {"route": "/v2/x"}}
    _, body = await svc.events([tagged, event(t.account_id, "api_calls", 3, "m2")])
    assert body["debited"] == 2
    await gw.settle_all()
    async with running_fake("lago") as fake, aiohttp.ClientSession() as http:
        sent = await export_all(ExportLedger(gw.stores().pool), LagoSink(http, fake.url, "k", "c"))
        assert sent.sent == 2
    by_quantity = {e["quantity"]: e.get("metadata") for e in fake.events.values()}
    assert by_quantity == {2: {"route": "/v2/x"}, 3: None}
