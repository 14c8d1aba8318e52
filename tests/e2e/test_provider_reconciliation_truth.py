"""Reconciliation tells the truth where the attack pass found it did not: a leak on a model
Meterway never forwarded is worth what the provider billed (never $0) and is alerted; a round
amount the provider wrote is an over-bill, never "rounding"; a report that cannot be read
keeps the last good differences, marked with the run that failed. Calls go through the
gateway with the official SDKs and straight to the fake provider around it, whose usage and
cost reports are summed from what it was sent, in the real formats."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest

from billing.proof.provider_reports import Slot
from billing.proof.reconcile import PROVIDER_BILL, UNMETERED, Difference
from gateway.config.settings import load_settings
from gateway.devtools.demo_upstream.admin_reports import key_id
from gateway.workers.reconciler import Reconciler
from tests.support.dashboard_client import page, signed_in
from tests.support.factories import openai_client, tenant
from tests.support.harness import (
    ADMIN_KEY,
    Gateway,
    config_dir_with,
    gateway_env,
    running_gateway,
    store_cli,
    temp_database,
)

OPENAI_KEY = "sk-upstream-openai-truth"
# Meterway's card: $62.50/M output, so 1,000 output tokens are $0.0625.
PRICING = """
[models."truth-gpt"]
provider = "openai"
kind = "chat"
max_output_tokens = 1000
encoding = "o200k_base"
input = "0.15"
output = "62.50"
"""
HI = [{"role": "user", "content": "hello"}]
OPERATOR = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    config_dir_with(tmp_path, pricing=PRICING)
    async with (
        temp_database() as dsn,
        running_gateway(dsn, MW_CONFIG_DIR=str(tmp_path), OPENAI_API_KEY=OPENAI_KEY) as gateway,
    ):
        yield gateway
        await gateway.settle_all()


def _env(gw: Gateway, **more: str) -> dict[str, str]:
    return {
        "RECONCILE_OPENAI_ADMIN_KEY": "sk-admin-openai-truth",
        "RECONCILE_OPENAI_BASE_URL": gw.upstream.url + "/v1",
        "RECONCILE_OPENAI_KEY_ID": key_id("openai", OPENAI_KEY),
        **more,
    }


async def _around(gw: Gateway, model: str, prompt: int, completion: int) -> None:
    """A call sent with Meterway's upstream key straight to the provider: a leaked key."""
    gw.control.usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    async with openai.AsyncOpenAI(base_url=gw.upstream.url + "/v1", api_key=OPENAI_KEY) as direct:
        await direct.chat.completions.create(model=model, messages=HI)  # type: ignore[arg-type]
    gw.control.usage = None


def _today(gw: Gateway) -> date:
    days = {datetime.fromtimestamp(s.at, UTC).date() for s in gw.control.served}
    if len(days) != 1 or days != {datetime.now(UTC).date()}:
        pytest.skip(f"the calls straddled midnight UTC: {sorted(days)}")
    return days.pop()


def _rows(out: str) -> set[tuple[Any, ...]]:
    return {
        (r["model"], r["kind"], r["class"], r["provider_tokens"], r["ledger_tokens"],
         r["provider_micros"], r["ledger_micros"], r["delta_micros"], r["valued_by"])
        for r in json.loads(out)
    }  # fmt: skip


async def _csv(gw: Gateway, day: date | str) -> list[dict[str, str]]:
    url = f"{gw.url}/admin/v1/reconciliation/providers?day={day}&format=csv"
    async with gw.http.get(url, headers=OPERATOR) as r:
        return list(csv.DictReader(io.StringIO(await r.text())))


async def _console(gw: Gateway, day: date | str) -> str:
    """The console's Reconciliation page of `day`, as the operator's browser gets it."""
    http = await signed_in(gw, ADMIN_KEY)
    async with http:
        _, text = await page(http, gw, f"/dashboard/operators/reconciliation?day={day}")
    return text


async def test_a_leak_on_a_model_meterway_never_forwarded_is_valued_from_the_bill(
    gw: Gateway,
) -> None:
    gw.control.report_prices = {"gpt-4.1": {"input": "2.00", "output": "8.00"}}
    await _around(gw, "gpt-4.1", 10_000, 2_000)
    day = _today(gw)
    code, out, err = await store_cli(
        gw, "reconcile", "providers", "--day", day.isoformat(), "--json", **_env(gw)
    )
    assert code == 3, (out, err)
    assert _rows(out) == {
        ("gpt-4.1", "input", "unmetered_traffic", 10_000, 0, 20_000, None, 20_000, "provider_bill"),
        ("gpt-4.1", "output", "unmetered_traffic", 2_000, 0, 16_000, None, 16_000, "provider_bill"),
    }
    status, body = await gw.admin("GET", f"/admin/v1/reconciliation/providers?day={day}")
    assert status == 200, body
    assert {(r["kind"], r["delta_micros"], r["valued_by"]) for r in body["differences"]} == {
        ("input", 20_000, "provider_bill"),
        ("output", 16_000, "provider_bill"),
    }
    assert {(r["kind"], r["delta_micros"], r["valued_by"]) for r in await _csv(gw, day)} == {
        ("input", "20000", "provider_bill"),
        ("output", "16000", "provider_bill"),
    }
    console = await _console(gw, day)
    assert console.count('data-valued-by="provider_bill"') == 2
    assert "<td>provider bill</td>" in console


async def test_a_leaked_key_is_alerted(gw: Gateway) -> None:
    gw.control.report_prices = {"gpt-4o-mini": {"input": "0.15", "output": "0.60"}}
    await _around(gw, "gpt-4o-mini", 100_000, 50_000)
    day = _today(gw)
    env = _env(gw, RECONCILE_ALERT_MICROS="10000")
    settings = load_settings({**gateway_env(gw.settings.database_url, "http://x", "x"), **env})
    stores = gw.stores()
    worker = Reconciler(
        settings.reconcile, stores.provider_reconciliation(), stores.notify_ledger()
    )
    async with aiohttp.ClientSession() as session:
        (source,) = settings.reconcile.upstreams
        await worker.run_day(session, source, day)
    rows = await stores.pool.fetch(
        "SELECT payload FROM notify_outbox WHERE event = 'provider.reconciliation'"
    )
    told = {(p["kind"], p["delta_micros"], p["valued_by"]) for p in map(_payload, rows)}
    assert told == {("input", 15_000, "provider_bill"), ("output", 30_000, "provider_bill")}


def _payload(row: Any) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(row["payload"])
    return payload


async def test_a_round_amount_is_an_over_bill_not_rounding(gw: Gateway) -> None:
    """Meterway priced 1,000 output tokens at $0.0625; OpenAI's Costs API says `0.1`."""
    gw.control.report_prices = {"truth-gpt": {"input": "0.15", "output": "100.00"}}
    gw.control.usage = {"prompt_tokens": 1000, "completion_tokens": 1000, "total_tokens": 2000}
    t = await tenant(gw, credit=10_000_000)
    async with openai_client(gw, t.key) as client:
        await client.chat.completions.create(model="truth-gpt", messages=HI)  # type: ignore[arg-type]
    await gw.settle_all()
    day = _today(gw)
    code, out, err = await store_cli(
        gw, "reconcile", "providers", "--day", day.isoformat(), "--json", **_env(gw)
    )
    assert code == 3, (out, err)
    assert _rows(out) == {
        ("truth-gpt", "output", "price_drift", 1000, 1000, 100_000, 62_500, 37_500, "ledger_rates")
    }


async def test_a_failed_read_keeps_the_last_good_differences_marked(gw: Gateway) -> None:
    gw.control.report_prices = {"gpt-4.1": {"input": "2.00", "output": "8.00"}}
    await _around(gw, "gpt-4.1", 10_000, 2_000)
    day = _today(gw).isoformat()
    code, _, err = await store_cli(gw, "reconcile", "providers", "--day", day, **_env(gw))
    assert code == 3, err
    gw.control.report_status = 500
    code, _, err = await store_cli(gw, "reconcile", "providers", "--day", day, **_env(gw))
    assert code == 1 and "HTTP 500" in err
    status, body = await gw.admin("GET", f"/admin/v1/reconciliation/providers?day={day}")
    assert status == 200, body
    (run,) = body["runs"]
    assert "HTTP 500" in run["error"] and run["differences"] == 2
    assert run["compared_at"] < run["checked_at"]
    kept = body["differences"]
    assert {(r["kind"], r["class"], r["delta_micros"]) for r in kept} == {
        ("input", "unmetered_traffic", 20_000),
        ("output", "unmetered_traffic", 16_000),
    }
    assert all(r["failed_run_at"] == run["checked_at"] for r in kept)
    assert all("HTTP 500" in r["failed_run_error"] for r in kept)
    exported = await _csv(gw, day)
    assert [(r["kind"], r["class"]) for r in exported] == [
        ("input", "unmetered_traffic"),
        ("output", "unmetered_traffic"),
    ]
    assert all("HTTP 500" in r["failed_run_error"] and r["failed_run_at"] for r in exported)
    console = await _console(gw, day)
    assert console.count("data-kept") == 2
    assert console.count("Kept from the last good run") == 2
    gw.control.report_status = None  # the next good run replaces them, unmarked
    code, _, err = await store_cli(gw, "reconcile", "providers", "--day", day, **_env(gw))
    assert code == 3, err
    assert all(r["failed_run_at"] == "" for r in await _csv(gw, day))


async def test_an_echoed_admin_key_is_printed_stored_and_logged_nowhere(
    gw: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    """A 401 body repeating RECONCILE_OPENAI_ADMIN_KEY (as OpenAI's does)."""
    gw.control.report_status = 401
    env = _env(gw)
    admin_key = env["RECONCILE_OPENAI_ADMIN_KEY"]
    code, out, err = await store_cli(gw, "reconcile", "providers", "--day", "2026-11-26", **env)
    assert code == 1 and "Incorrect API key provided" in err, err
    assert admin_key not in out + err
    status, body = await gw.admin("GET", "/admin/v1/reconciliation/providers")
    assert status == 200 and "HTTP 401" in body["runs"][0]["error"]
    assert admin_key not in json.dumps(body)
    settings = load_settings({**gateway_env(gw.settings.database_url, "http://x", "x"), **env})
    worker = Reconciler(settings.reconcile, gw.stores().provider_reconciliation())
    await worker.run_round()
    assert "HTTP 401" in worker.last_errors["openai"]
    assert admin_key not in json.dumps(worker.report())
    assert "reconcile openai" in caplog.text and admin_key not in caplog.text


async def test_a_failed_round_still_counts_the_kept_differences(gw: Gateway) -> None:
    """/metrics and /readyz count the last good run's differences of a day whose reports
    could not be read this round, never a clean zero."""
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    kept = Difference(
        Slot("openai", yesterday, "gpt-4.1"), "input", UNMETERED, 10, 0, 20, None, 20, "leak",
        PROVIDER_BILL,
    )  # fmt: skip
    await gw.stores().provider_reconciliation().record("openai", yesterday, "openai", [kept])
    gw.control.report_status = 500
    env = _env(gw, RECONCILE_DAYS="1")
    settings = load_settings({**gateway_env(gw.settings.database_url, "http://x", "x"), **env})
    worker = Reconciler(settings.reconcile, gw.stores().provider_reconciliation())
    await worker.run_round()
    assert "HTTP 500" in worker.last_errors["openai"]
    assert worker.report()["differences"] == {UNMETERED: 1}
    assert 'meterway_provider_differences{class="unmetered_traffic"} 1' in worker.metric_lines()
