"""Reconciliation against the provider, end to end: calls through the gateway with the
official SDKs, calls sent straight to the fake provider around it, a provider that bills
cached tokens at the input rate, a price Meterway's card has wrong and a call the provider
never bills; the fake's usage and cost reports are summed from what it was actually sent, and
`meterway reconcile providers --day` must put each difference in its class, to the micro."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from playwright.async_api import Page

from gateway.config.settings import load_settings
from gateway.devtools.demo_upstream.admin_reports import key_id
from gateway.workers.reconciler import Reconciler
from tests.support.browser_kit import sign_in
from tests.support.factories import anthropic_client, openai_client, tenant
from tests.support.harness import (
    ADMIN_KEY,
    Gateway,
    config_dir_with,
    gateway_env,
    running_gateway,
    store_cli,
    temp_database,
)

OPENAI_KEY, ANTHROPIC_KEY = "sk-upstream-openai-recon", "sk-ant-upstream-recon"
GPT = """
[models."{name}"]
provider = "openai"
kind = "chat"
max_output_tokens = 1000
encoding = "o200k_base"
input = "0.15"
cached_input = "0.075"
output = "0.60"
"""
PRICING = (
    GPT.format(name="recon-gpt")
    + GPT.format(name="recon-free")
    + """
[models."recon-claude"]
provider = "anthropic"
kind = "chat"
max_output_tokens = 1000
encoding = "cl100k_base"
input = "1.00"
cached_input = "0.10"
cache_write = "1.25"
cache_write_1h = "2.00"
output = "4.00"
"""
)
# What the provider really charges: recon-claude's output is $5.00, not the card's $4.00.
PROVIDER_PRICES = {
    "recon-gpt": {"input": "0.15", "cached_input": "0.075", "output": "0.60"},
    "recon-free": {"input": "0.15", "cached_input": "0.075", "output": "0.60"},
    "recon-claude": {
        "input": "1.00",
        "cached_input": "0.10",
        "cache_write": "1.25",
        "cache_write_1h": "2.00",
        "output": "5.00",
    },
}
GPT_USAGE = {
    "prompt_tokens": 1000,
    "completion_tokens": 200,
    "total_tokens": 1200,
    "prompt_tokens_details": {"cached_tokens": 400},
}
AROUND_USAGE = {"prompt_tokens": 500, "completion_tokens": 100, "total_tokens": 600}
CLAUDE_USAGE = {
    "input_tokens": 100,
    "cache_read_input_tokens": 300,
    "cache_creation_input_tokens": 50,
    "cache_creation": {"ephemeral_5m_input_tokens": 20, "ephemeral_1h_input_tokens": 30},
    "output_tokens": 70,
}
OPERATOR = {"Authorization": f"Bearer {ADMIN_KEY}"}
HI = [{"role": "user", "content": "hello"}]


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    """A gateway on a database of its own (the ledger's day is this test's alone), with the
    upstream keys the reports are grouped by."""
    config_dir_with(tmp_path, pricing=PRICING)
    async with (
        temp_database() as dsn,
        running_gateway(
            dsn, MW_CONFIG_DIR=str(tmp_path), OPENAI_API_KEY=OPENAI_KEY,
            ANTHROPIC_API_KEY=ANTHROPIC_KEY,
        ) as gateway,
    ):  # fmt: skip
        gateway.control.report_prices = {m: dict(p) for m, p in PROVIDER_PRICES.items()}
        gateway.control.cached_billed_as_input = {"recon-gpt"}  # over-billed at the input rate
        yield gateway
        await gateway.settle_all()


def _reconcile_env(gw: Gateway) -> dict[str, str]:
    return {
        "RECONCILE_OPENAI_ADMIN_KEY": "sk-admin-openai",
        "RECONCILE_OPENAI_BASE_URL": gw.upstream.url + "/v1",
        "RECONCILE_OPENAI_KEY_ID": key_id("openai", OPENAI_KEY),
        "RECONCILE_ANTHROPIC_ADMIN_KEY": "sk-ant-admin-test",
        "RECONCILE_ANTHROPIC_BASE_URL": gw.upstream.url,
        "RECONCILE_ANTHROPIC_KEY_ID": key_id("anthropic", ANTHROPIC_KEY),
    }


async def _traffic(gw: Gateway) -> None:
    t = await tenant(gw, credit=10_000_000)
    gw.control.usage = GPT_USAGE
    async with openai_client(gw, t.key) as client:
        await client.chat.completions.create(model="recon-gpt", messages=HI)  # type: ignore[arg-type]
        stream = await client.chat.completions.create(
            model="recon-gpt", messages=HI, stream=True, stream_options={"include_usage": True}
        )  # type: ignore[call-overload]
        _ = [chunk async for chunk in stream]
        await client.chat.completions.create(model="recon-free", messages=HI)  # type: ignore[arg-type]
        await client.images.generate(model="dall-e-3", prompt="a fox", size="1024x1024")
    async with openai.AsyncOpenAI(base_url=gw.upstream.url + "/v1", api_key=OPENAI_KEY) as direct:
        await direct.images.generate(model="dall-e-3", prompt="a fox", n=2)  # around it
    served = gw.control.served  # the provider never bills the recon-free call:
    served[:] = [s for s in served if s.model != "recon-free"]
    gw.control.usage = AROUND_USAGE
    for key in (OPENAI_KEY, "sk-someone-else"):  # around Meterway: its key, and another's
        async with openai.AsyncOpenAI(base_url=gw.upstream.url + "/v1", api_key=key) as direct:
            await direct.chat.completions.create(model="recon-gpt", messages=HI)  # type: ignore[arg-type]
    gw.control.usage = CLAUDE_USAGE
    async with anthropic_client(gw, t.key) as claude:
        for _ in range(2):
            await claude.messages.create(model="recon-claude", max_tokens=100, messages=HI)  # type: ignore[arg-type]
    gw.control.usage = None
    await gw.settle_all()


async def _same_day(gw: Gateway) -> date:
    """The UTC day every call fell on, seen by the provider and by the ledger; a run that
    straddles midnight is skipped, never judged on half a day."""
    days = {datetime.fromtimestamp(s.at, UTC).date() for s in gw.control.served}
    rows = await gw.stores().pool.fetch(
        "SELECT DISTINCT (occurred_at AT TIME ZONE 'UTC')::date AS d FROM ledger_entries"
        " WHERE kind = 'debit'"
    )
    days |= {r["d"] for r in rows}
    if len(days) != 1:
        pytest.skip(f"the calls straddled midnight UTC: {sorted(days)}")
    return days.pop()


def _found(rows: list[Mapping[str, Any]]) -> set[tuple[Any, ...]]:
    return {
        (r["credential"], r["model"], r["kind"], r["class"], r["provider_tokens"],
         r["ledger_tokens"], r["provider_micros"], r["ledger_micros"], r["delta_micros"])
        for r in rows
    }  # fmt: skip


async def test_every_difference_lands_in_its_class_to_the_micro(gw: Gateway) -> None:
    await _traffic(gw)
    day = await _same_day(gw)
    gw.control.report_page_buckets = 5  # 24 hourly buckets: five pages to follow
    code, out, err = await store_cli(
        gw, "reconcile", "providers", "--day", day.isoformat(), **_reconcile_env(gw)
    )
    assert code == 3, (out, err)  # differences to look at
    rows = await gw.stores().provider_reconciliation().differences(day)
    assert _found(rows) == {
        # 1,200 tokens through Meterway + 500 around it with its key, at $0.15/M
        ("openai", "recon-gpt", "input", "unmetered_traffic", 1700, 1200, 255, 180, 75),
        ("openai", "recon-gpt", "output", "unmetered_traffic", 500, 400, 300, 240, 60),
        # the same 800 cached tokens, billed at $0.15/M where the price is $0.075/M
        ("openai", "recon-gpt", "cached_input", "price_drift", 800, 800, 120, 60, 60),
        # a call through Meterway the provider does not bill: its cost at Meterway's card
        ("openai", "recon-free", "input", "unbilled_by_provider", 0, 600, None, 90, -90),
        ("openai", "recon-free", "cached_input", "unbilled_by_provider", 0, 400, None, 30, -30),
        ("openai", "recon-free", "output", "unbilled_by_provider", 0, 200, None, 120, -120),
        # an image through Meterway, two sent around it: counted, not priced here
        ("openai", "dall-e-3", "images", "unmetered_traffic", 3, 1, None, None, 0),
        # 140 output tokens at the provider's $5.00/M against the card's wrong $4.00/M
        ("anthropic", "recon-claude", "output", "price_drift", 140, 140, 700, 560, 140),
    }
    drift = next(r for r in rows if r["kind"] == "output" and r["class"] == "price_drift")
    assert "provider 5.000000 USD per 1M tokens, Meterway's card 4.000000" in drift["note"]
    assert "recon-claude output: price_drift" in out
    told = "SELECT count(*) FROM notify_outbox WHERE event = 'provider.reconciliation'"
    assert await gw.stores().pool.fetchval(told) == 0  # the command notifies nothing
    assert gw.control.hits_by_path["/v1/organization/usage/completions"] == 5
    assert gw.control.hits_by_path["/v1/organizations/usage_report/messages"] == 5


async def test_a_second_run_replaces_the_days_differences(gw: Gateway) -> None:
    await _traffic(gw)
    day = await _same_day(gw)
    env = _reconcile_env(gw)
    await store_cli(gw, "reconcile", "providers", "--day", day.isoformat(), **env)
    gw.control.cached_billed_as_input = set()
    gw.control.report_prices = {}  # no costs reported: only the token differences stay
    code, out, err = await store_cli(
        gw, "reconcile", "providers", "--day", day.isoformat(), "--json", **env
    )
    assert code == 3, err
    assert {d["class"] for d in json.loads(out)} == {"unmetered_traffic", "unbilled_by_provider"}
    rows = await gw.stores().provider_reconciliation().differences(day)
    assert {(r["model"], r["kind"], r["class"]) for r in rows} == {
        ("dall-e-3", "images", "unmetered_traffic"),
        ("recon-gpt", "input", "unmetered_traffic"),
        ("recon-gpt", "output", "unmetered_traffic"),
        ("recon-free", "input", "unbilled_by_provider"),
        ("recon-free", "cached_input", "unbilled_by_provider"),
        ("recon-free", "output", "unbilled_by_provider"),
    }


async def test_without_an_admin_key_the_command_says_what_to_set(gw: Gateway) -> None:
    code, _, err = await store_cli(gw, "reconcile", "providers", "--day", "2026-11-26")
    assert code == 2
    assert "RECONCILE_OPENAI_ADMIN_KEY" in err


async def test_an_unreadable_report_is_an_error_recorded_never_a_match(gw: Gateway) -> None:
    env = {**_reconcile_env(gw), "RECONCILE_OPENAI_BASE_URL": gw.upstream.url + "/nowhere"}
    del env["RECONCILE_ANTHROPIC_ADMIN_KEY"]
    code, _, err = await store_cli(gw, "reconcile", "providers", "--day", "2026-11-26", **env)
    assert code == 1
    assert "HTTP 404" in err
    runs = await gw.stores().provider_reconciliation().runs()
    assert [(r["credential"], r["differences"]) for r in runs] == [("openai", 0)]
    assert "HTTP 404" in runs[0]["error"]


async def test_the_worker_shows_in_readyz_and_metrics(tmp_path: Path) -> None:
    env = {
        "RECONCILE_OPENAI_ADMIN_KEY": "sk-admin",
        "RECONCILE_OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
    }
    async with temp_database() as dsn, running_gateway(dsn, None, **env) as gw:
        async with asyncio.timeout(20):
            while True:
                async with gw.http.get(gw.url + "/readyz", headers=OPERATOR) as r:
                    ready = await r.json()
                if ready.get("provider_reconciliation", {}).get("rounds"):
                    break
                await asyncio.sleep(0.05)
        assert r.status == 200  # a provider whose reports cannot be read never makes it unready
        assert ready["tasks"]["provider_reconcile"]["running"] is True
        shown = ready["provider_reconciliation"]
        assert shown["credentials"] == ["openai"]
        assert "openai" in shown["errors"]
        async with gw.http.get(gw.url + "/metrics", headers=OPERATOR) as r:
            metrics = await r.text()
        assert "meterway_provider_reconcile_errors 1" in metrics
        assert 'meterway_provider_differences{class="price_drift"} 0' in metrics
    async with (
        temp_database() as dsn,
        running_gateway(dsn, None, SETTLER_DISABLED="1", **env) as gw,
    ):
        async with gw.http.get(gw.url + "/readyz", headers=OPERATOR) as r:
            ready = await r.json()
        assert "provider_reconcile" not in ready["tasks"]  # only where ledger work runs
        assert "provider_reconciliation" not in ready


async def test_the_worker_notifies_the_operator_past_the_threshold_once(gw: Gateway) -> None:
    await _traffic(gw)
    day = await _same_day(gw)
    env = {**_reconcile_env(gw), "RECONCILE_ALERT_MICROS": "100"}
    settings = load_settings({**gateway_env(gw.settings.database_url, "http://x", "x"), **env})
    stores = gw.stores()
    worker = Reconciler(
        settings.reconcile, stores.provider_reconciliation(), stores.notify_ledger()
    )
    async with aiohttp.ClientSession() as session:
        for _ in range(2):  # the same findings twice: notified once
            for source in settings.reconcile.upstreams:
                await worker.run_day(session, source, day)
    rows = await stores.pool.fetch(
        "SELECT account_id, payload FROM notify_outbox WHERE event = 'provider.reconciliation'"
    )
    told = {(r["account_id"], json.loads(r["payload"])["delta_micros"]) for r in rows}
    assert told == {("provider:anthropic", 140), ("provider:openai", -120)}


async def test_the_operator_api_the_export_and_the_console_show_them(
    gw: Gateway, page: Page
) -> None:
    await _traffic(gw)
    day = (await _same_day(gw)).isoformat()
    code, _, err = await store_cli(gw, "reconcile", "providers", "--day", day, **_reconcile_env(gw))
    assert code == 3, err
    status, body = await gw.admin("GET", f"/admin/v1/reconciliation/providers?day={day}")
    assert status == 200, body
    assert len(body["differences"]) == 8
    assert {(r["credential"], r["differences"]) for r in body["runs"]} == {
        ("openai", 7),
        ("anthropic", 1),
    }
    url = f"{gw.url}/admin/v1/reconciliation/providers?day={day}&format=csv"
    async with gw.http.get(url, headers=OPERATOR) as r:
        lines = (await r.text()).splitlines()
    assert lines[0].startswith("credential,day,model,kind,class,")
    assert f"anthropic,{day},recon-claude,output,price_drift,140,140,700,560,140," in lines[1]
    status, body = await gw.admin("GET", "/admin/v1/reconciliation/providers?day=nope")
    assert status == 400 and body["error"]["param"] == "day"
    await sign_in(page, ADMIN_KEY)
    await page.goto(f"/dashboard/operators/reconciliation?day={day}")
    drift = page.locator("#differences tr[data-class=price_drift]")
    assert await drift.count() == 2
    claude = await drift.first.inner_text()
    assert "recon-claude" in claude and "$0.000140" in claude
    assert await page.locator("#differences tr[data-class=unmetered_traffic]").count() == 3
