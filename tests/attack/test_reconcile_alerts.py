"""Attack on the background reconciler's alerts (docs/guides/reconciliation.md,
docs/guides/notifications.md): a difference of at least RECONCILE_ALERT_MICROS either way is
notified to the operator as `provider.reconciliation`; one below it never is."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.attack.reports import (
    add_to_first_bucket,
    cost_line,
    costs_path,
    reports_proxy,
    usage_path,
    with_cost_lines,
)
from tests.support.fakes.webhook_sink import SECRET, webhook_sink
from tests.support.harness import LOCAL_SINKS, running_gateway, temp_database

LEAKED = "o1-pro-2025-03-19"


@pytest.fixture
async def own_dsn() -> AsyncIterator[str]:
    async with temp_database() as name:
        yield name


def leak(method: str, path: str, status: int, body: bytes) -> tuple[int, bytes] | None:
    """Every day's report: 1,000 input tokens billed $0.50 (alerted at $0.30) and 500 output
    tokens billed $0.25 (below it) on a model Meterway never forwarded."""
    if usage_path(path):
        row = {
            "object": "organization.usage.completions.result",
            "api_key_id": "key_x",
            "model": LEAKED,
            "input_tokens": 1000,
            "input_cached_tokens": 0,
            "output_tokens": 500,
            "num_model_requests": 1,
        }
        return status, add_to_first_bucket(body, row)
    if costs_path(path):
        return status, with_cost_lines(
            body, cost_line("0.5", f"{LEAKED}, input"), cost_line("0.25", f"{LEAKED}, output")
        )
    return None


async def test_alerts_at_the_threshold_only(own_dsn: str) -> None:
    async with webhook_sink() as sink, reports_proxy() as reports:
        env = reports.env(
            RECONCILE_EVERY_S="60",
            RECONCILE_DAYS="1",
            RECONCILE_ALERT_MICROS="300000",
            NOTIFY_WEBHOOK_URL=sink.url,
            NOTIFY_WEBHOOK_SECRET=SECRET,
            NOTIFY_INTERVAL_S="1",
            **LOCAL_SINKS,
        )
        reports.rewrite = leak
        async with running_gateway(own_dsn, None, **env) as gw:
            reports.target = gw.upstream.url

            def alerts() -> list[dict[str, Any]]:
                return [e for e in sink.received if e["type"] == "provider.reconciliation"]

            for _ in range(80):
                if alerts():
                    break
                await asyncio.sleep(0.5)
            if not alerts():
                day = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
                _, found = await gw.admin("GET", f"/admin/v1/reconciliation/providers?day={day}")
                async with gw.http.get(gw.url + "/readyz") as r:
                    ready = await r.text()
                raise AssertionError(json.dumps([found, sink.received, sink.deliveries, ready]))
            await asyncio.sleep(4)  # the notifier's next checks
            got = alerts()
            assert len(got) == 1, got
            data = got[0]["data"]
            assert got[0]["account_id"] == "provider:openai", got[0]
            assert (data["model"], data["kind"], data["delta_micros"]) == (
                "o1-pro",
                "input",
                500_000,
            )
            assert data["class"] == "unmetered_traffic" and data["valued_by"] == "provider_bill"
