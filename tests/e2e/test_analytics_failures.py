"""ClickHouse replaced, pointed elsewhere, down, refusing writes and hung under a running
gateway (issue 70): every usage report equals PostgreSQL's rollups or is answered by them,
and /readyz and /metrics show the lag as it is. The gateway reads ClickHouse only with
nothing uncopied (CLICKHOUSE_MAX_LAG_S=0), its reads bounded by CLICKHOUSE_READ_TIMEOUT_S.
These hold docs/guides/analytics.md's "When ClickHouse changes or fails"."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gateway.http.appkeys import DIRECTORY, USAGE
from tests.support.factories import openai_client, tenant
from tests.support.fakes.clickhouse import FakeClickHouse, running_clickhouse
from tests.support.harness import ADMIN_KEY, Gateway, running_gateway, store_cli, temp_database

HI: Any = [{"role": "user", "content": "hi"}]
OPERATOR = {"Authorization": f"Bearer {ADMIN_KEY}"}
READ_S = 1.5
ASKED = [("model",), ("day", "key"), ("kind",)]


@contextlib.asynccontextmanager
async def gateway(where: Path) -> AsyncIterator[tuple[FakeClickHouse, Gateway]]:
    async with (
        running_clickhouse(where) as ch,
        temp_database() as dsn,
        running_gateway(
            dsn, CLICKHOUSE_URL=ch.url, CLICKHOUSE_DATABASE="mw_f", CLICKHOUSE_COPY_EVERY_S="0.2",
            CLICKHOUSE_MAX_LAG_S="0", CLICKHOUSE_READ_TIMEOUT_S=str(READ_S),
            # The fake runs chdb in this process, holding the GIL while it copies: on a
            # loaded machine the gateway's own store pings (same process) waited past the
            # default 2 s and /readyz said PostgreSQL and Redis were away. What is asked
            # here is ClickHouse's effect on readiness, not the pings' bound.
            READYZ_CHECK_TIMEOUT_S="15",
        ) as gw,
    ):  # fmt: skip
        yield ch, gw


async def _analytics(gw: Gateway) -> dict[str, Any]:
    async with gw.http.get(gw.url + "/readyz", headers=OPERATOR) as r:
        ready = await r.json()
        assert r.status == 200, ready  # ClickHouse never makes the gateway unready
        return dict(ready["analytics"])


async def _metrics(gw: Gateway) -> dict[str, float]:
    async with gw.http.get(gw.url + "/metrics", headers=OPERATOR) as r:
        lines = (await r.text()).splitlines()
    return {
        name: float(value)
        for name, value in (line.split(" ", 1) for line in lines if line.startswith("meterway_a"))
    }


async def _calls(gw: Gateway, key: str, n: int) -> None:
    async with openai_client(gw, key) as client:
        for _ in range(n):
            await client.chat.completions.create(model="gpt-4o-mini", messages=HI, max_tokens=5)
    await gw.settle_all()


async def _reports(gw: Gateway, account: str) -> str:
    """Every report asked of the gateway's reads equals PostgreSQL's; the store that
    answered the last."""
    today = datetime.now(UTC).date()
    span = (today - timedelta(days=2), today + timedelta(days=1))
    for by in ASKED:
        ours = await gw.app[DIRECTORY].usage_series(account, *span, by, {})
        theirs = await gw.app[USAGE].usage_series(account, *span, by, {})
        assert [dict(r) for r in theirs] == [dict(r) for r in ours], by
        assert ours
    return gw.app[USAGE].answered_by


async def _until(check: Callable[[], Awaitable[bool]], what: str, within_s: float = 20) -> None:
    deadline = time.monotonic() + within_s
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


async def _from(gw: Gateway, source: str) -> None:
    async def reads() -> bool:
        return bool((await _analytics(gw))["reports_from"] == source)

    await _until(reads, f"reports never read {source}")


async def _start(gw: Gateway) -> tuple[str, str]:
    org = await tenant(gw, scopes=["chat"])
    await _calls(gw, org.key, 2)
    await _from(gw, "clickhouse")
    assert await _reports(gw, org.account_id) == "clickhouse"
    return org.account_id, org.key


async def _filled_again(ch: FakeClickHouse, gw: Gateway, account: str) -> None:
    """Every report equal while the gateway's database is filled again, then read from it,
    every entry there once."""

    async def refilled() -> bool:
        await _reports(gw, account)
        analytics = await _analytics(gw)
        return bool(analytics["refills"] >= 1 and analytics["reports_from"] == "clickhouse")

    await _until(refilled, "the store was never filled again")
    entries = await gw.stores().pool.fetchval("SELECT count(*) FROM ledger_entries")
    assert int(ch.scalar("SELECT count() FROM mw_f.ledger")) == entries
    assert await _reports(gw, account) == "clickhouse"


async def test_a_new_server_or_a_lost_volume_is_filled_again_and_never_read_empty(
    tmp_path: Path,
) -> None:
    async with gateway(tmp_path) as (ch, gw):
        account, key = await _start(gw)
        ch.replace()
        await _calls(gw, key, 1)
        await _filled_again(ch, gw, account)


async def test_another_database_is_filled_by_backfill_and_the_gateway_fills_its_own_again(
    tmp_path: Path,
) -> None:
    async with gateway(tmp_path) as (ch, gw):
        account, _ = await _start(gw)
        entries = await gw.stores().pool.fetchval("SELECT count(*) FROM ledger_entries")
        env = {"CLICKHOUSE_URL": ch.url, "CLICKHOUSE_DATABASE": "mw_other"}
        code, out, err = await store_cli(gw, "analytics", "backfill", **env)
        assert code == 0 and f"analytics: {entries} ledger entries copied" in out, out + err
        assert int(ch.scalar("SELECT count() FROM mw_other.ledger")) == entries
        await _filled_again(ch, gw, account)  # the gateway's own is not the one counted now


async def test_down_refusing_writes_or_hung_reports_come_from_postgres_and_lag_grows(
    tmp_path: Path,
) -> None:
    async with gateway(tmp_path) as (ch, gw):
        account, key = await _start(gw)
        for how in ("down", "read_only", "hung"):
            ch.fail(how)
            await _calls(gw, key, 2)  # two calls ClickHouse never gets
            await asyncio.sleep(1.1)  # past the verdict's second
            started = time.monotonic()
            assert await _reports(gw, account) == "postgres", how
            assert time.monotonic() - started < len(ASKED) * READ_S + 1, how
            first = await _analytics(gw)
            await asyncio.sleep(0.3)
            later, metrics = await _analytics(gw), await _metrics(gw)
            assert 0 < first["lag_seconds"] < later["lag_seconds"], (how, first, later)
            assert first["reports_from"] == "postgres" and first["reason"], first
            assert metrics["meterway_analytics_copy_lag_seconds"] >= later["lag_seconds"]
            assert metrics["meterway_analytics_reports_from_clickhouse"] == 0
            ch.fail(how, False)
            await _from(gw, "clickhouse")
            assert await _reports(gw, account) == "clickhouse"
            assert (await _metrics(gw))["meterway_analytics_reports_from_clickhouse"] == 1
