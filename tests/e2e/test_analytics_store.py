"""The gateway with CLICKHOUSE_URL set: calls made through the OpenAI SDK reach ClickHouse
(chdb behind its HTTP interface) by the background copy, whose lag /readyz and /metrics
show; ClickHouse down costs no call and leaves the gateway ready; `meterway analytics
verify` finds both stores equal and `backfill` copies what the copy has not yet."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from gateway.http.appkeys import DIRECTORY, USAGE
from gateway.http.shared.usage.reports import FILTERS, GROUPS
from tests.support.factories import openai_client, tenant
from tests.support.fakes.clickhouse import FakeClickHouse, running_clickhouse
from tests.support.harness import (
    ADMIN_KEY,
    Gateway,
    running_gateway,
    store_cli,
    temp_database,
)
from tests.support.metering_client import event, service

HI: Any = [{"role": "user", "content": "hi"}]
OPERATOR = {"Authorization": f"Bearer {ADMIN_KEY}"}


async def _ready(gw: Gateway) -> tuple[int, dict[str, Any]]:
    async with gw.http.get(gw.url + "/readyz", headers=OPERATOR) as r:
        return r.status, await r.json()


async def _cli(gw: Gateway, url: str, *args: str) -> tuple[int, str]:
    env = {"CLICKHOUSE_URL": url, "CLICKHOUSE_DATABASE": "mw_e2e"}
    code, out, err = await store_cli(gw, "analytics", *args, **env)
    return code, out + err


@contextlib.asynccontextmanager
async def analytics_gateway(where: Path) -> AsyncIterator[tuple[FakeClickHouse, Gateway]]:
    """A gateway on a database of its own, copying to ClickHouse every 0.2 s."""
    async with (
        running_clickhouse(where) as ch,
        temp_database() as dsn,
        running_gateway(
            dsn, CLICKHOUSE_URL=ch.url, CLICKHOUSE_DATABASE="mw_e2e", CLICKHOUSE_COPY_EVERY_S="0.2"
        ) as gw,
    ):
        yield ch, gw


async def _copied(gw: Gateway, count: int) -> dict[str, Any]:
    for _ in range(200):
        _, ready = await _ready(gw)
        if ready.get("analytics", {}).get("copied_rows", 0) >= count:
            return ready
        await asyncio.sleep(0.1)
    raise AssertionError(f"the copy did not reach {count} rows: {ready}")


async def test_calls_reach_clickhouse_an_outage_costs_nothing_and_verify_agrees(
    tmp_path: Path,
) -> None:
    async with analytics_gateway(tmp_path) as (ch, gw):
        org = await tenant(gw, scopes=["chat"])
        async with openai_client(gw, org.key) as client:
            for _ in range(3):
                await client.chat.completions.create(model="gpt-4o-mini", messages=HI, max_tokens=5)
        await gw.settle_all()
        entries = int(await gw.stores().pool.fetchval("SELECT count(*) FROM ledger_entries"))
        ready = await _copied(gw, entries)
        assert ready["status"] == "ready" and ready["analytics"]["lag_seconds"] == 0
        assert int(ch.scalar("SELECT count() FROM mw_e2e.ledger FINAL")) == entries
        async with gw.http.get(gw.url + "/metrics", headers=OPERATOR) as r:
            assert "meterway_analytics_copy_lag_seconds 0.000" in await r.text()

        ch.down = True
        async with openai_client(gw, org.key) as client:
            await client.chat.completions.create(model="gpt-4o-mini", messages=HI, max_tokens=5)
        await gw.settle_all()
        status, ready = await _ready(gw)
        assert status == 200 and ready["tasks"]["analytics_copy"]["healthy"]
        ch.down = False

        code, out = await _cli(gw, ch.url, "backfill")
        assert code == 0 and "analytics:" in out, out
        assert int(ch.scalar("SELECT count() FROM mw_e2e.ledger FINAL")) == entries + 1
        code, out = await _cli(gw, ch.url, "verify")
        assert code == 0 and "0 difference(s)" in out, out


async def _traffic(gw: Gateway) -> tuple[str, str, str]:
    """An organization's calls: two models, a key in a team and one not, end users named
    and not, a metered event; the team and the other key tagged, the other key's cost center
    its own. (account, team id, key id in the team)"""
    org = await tenant(gw, scopes=["chat"])
    status, team = await gw.admin("POST", f"/admin/v1/accounts/{org.account_id}/teams",
                                  {"name": "research"})  # fmt: skip
    assert status == 201, team
    body = {"team_id": team["id"]}
    status, _ = await gw.admin("PUT", f"/admin/v1/keys/{org.key_id}/team", body)
    assert status == 200
    status, other = await gw.admin(
        "POST", "/admin/v1/keys", {"account_id": org.account_id, "name": "ops", "scopes": ["chat"]}
    )
    assert status == 201, other
    for path, tags in (
        (f"/admin/v1/teams/{team['id']}/tags", {"cost_center": "cc-research", "project": "x"}),
        (f"/admin/v1/keys/{other['id']}/tags", {"cost_center": "cc-ops"}),
    ):
        status, body = await gw.admin("PUT", path, {"tags": tags})
        assert status == 200, body
    calls = [(org.key, "gpt-4o", "alice"), (org.key, "gpt-4o-mini", ""),
             (other["key"], "gpt-4o-mini", "bob"), (other["key"], "gpt-4o", "")]  # fmt: skip
    for key, model, user in calls:
        async with openai_client(gw, key) as client:
            extra: dict[str, Any] = {"user": user} if user else {}
            await client.chat.completions.create(model=model, messages=HI, max_tokens=5, **extra)
    svc = await service(gw, "gpu_seconds")
    status, body = await svc.events([event(org.account_id, "gpu_seconds", 7, "gpu-1")])
    assert status in (200, 201, 202), body
    await gw.settle_all()
    return org.account_id, team["id"], org.key_id


async def test_every_report_reads_the_same_from_clickhouse_as_from_the_rollups(
    tmp_path: Path,
) -> None:
    async with analytics_gateway(tmp_path) as (_, gw):
        account, team, key = await _traffic(gw)
        entries = int(await gw.stores().pool.fetchval("SELECT count(*) FROM ledger_entries"))
        await _copied(gw, entries)
        reads = gw.app[USAGE]
        assert reads.clickhouse is not None
        today = datetime.now(UTC).date()
        span = (today - timedelta(days=31), today + timedelta(days=1))
        values = {"model": "gpt-4o", "key": key, "meter": "gpu_seconds", "team": team,
                  "kind": "tokens", "end_user": "alice"}  # fmt: skip
        asked = [(g,) for g in GROUPS] + [("day", "model"), ("model", "end_user")]
        asked += [("tag:cost_center",), ("day", "tag:cost_center"), ("month", "tag:project")]
        compared = 0
        each: list[dict[str, str]] = [{}] + [{d: values[d]} for d in FILTERS.values()]
        for by in asked:
            for filters in each:
                if by[-1].startswith("tag:") and "end_user" in filters:
                    continue  # a tag's values are not kept per end user (a 400)
                ours = await gw.app[DIRECTORY].usage_series(account, *span, by, filters)
                theirs = await reads.clickhouse.usage_series(account, *span, by, filters)
                assert [dict(r) for r in theirs] == [dict(r) for r in ours], (by, filters)
                compared += len(ours)
        assert compared > 100
        by_tag = await reads.clickhouse.usage_series(account, *span, ("tag:cost_center",), {})
        assert [r["tag:cost_center"] for r in by_tag] == ["", "cc-ops", "cc-research"]
        path = f"/admin/v1/accounts/{account}/usage/report?group_by=model"
        async with gw.http.get(gw.url + path + f"&from={span[0]}&to={span[1]}",
                               headers=OPERATOR) as r:  # fmt: skip
            report = await r.json()
            assert r.status == 200, report
        ours = await gw.app[DIRECTORY].usage_series(account, *span, ("model",), {})
        assert [row["spend_micros"] for row in report["data"]] == [
            row["spend_micros"] for row in ours
        ]
        assert reads.answered_by == "clickhouse"


async def test_to_alone_at_the_first_dates_is_an_empty_report_from_either_store(
    tmp_path: Path,
) -> None:
    """`to=0001-01-15` without `from` answered 500 (30 days before it is no date)."""
    async with analytics_gateway(tmp_path) as (_, gw):
        org = await tenant(gw, scopes=["chat"])
        await gw.settle_all()
        await _copied(gw, 0)
        span = (date(1, 1, 1), date(1, 1, 15))
        assert await gw.app[DIRECTORY].usage_series(org.account_id, *span, ("model",), {}) == []
        reads = gw.app[USAGE]
        assert reads.clickhouse is not None
        assert await reads.clickhouse.usage_series(org.account_id, *span, ("model",), {}) == []
        path = f"/admin/v1/accounts/{org.account_id}/usage/report?group_by=model&to=0001-01-15"
        async with gw.http.get(gw.url + path, headers=OPERATOR) as r:
            body = await r.json()
            assert r.status == 200 and body["data"] == [], body
            assert (body["from"], body["to"]) == ("0001-01-01", "0001-01-15"), body
