"""Quota windows over time (driven by the gateway's test clock) and under concurrency."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from gateway.http.appkeys import COUNTER, PLANS, PRICING
from tests.support.factories import Tenant, openai_client, tenant
from tests.support.harness import Gateway

HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
MODEL = "gpt-4o-mini"
CHAT = "/v1/chat/completions"


async def status_of(gw: Gateway, t: Tenant, max_tokens: int = 10) -> int:
    async with openai_client(gw, t.key) as client:
        try:
            await client.chat.completions.create(model=MODEL, messages=HI, max_tokens=max_tokens)
        except openai.APIStatusError as exc:
            return exc.status_code
    return 200


async def clock(gw: Gateway) -> datetime:
    return datetime.fromtimestamp(await gw.store.now_ms() / 1000, UTC)


async def move_to(gw: Gateway, when: datetime) -> None:
    """Set the gateway's clock to `when` (it can only move forward)."""
    delta = int((when - await clock(gw)).total_seconds() * 1000)
    assert delta >= 0
    await gw.advance_clock(delta)


def next_boundary(window: str, now: datetime) -> datetime:
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    if window == "day":
        return midnight
    if window == "week":
        return midnight + timedelta(days=(7 - midnight.weekday()) % 7)
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (first + timedelta(days=32)).replace(day=1)


@pytest.mark.parametrize("window", ["day", "week", "month"])
async def test_calendar_window_resets_exactly_at_its_boundary(gw: Gateway, window: str) -> None:
    t = await tenant(gw, quotas=[{"window": window, "metric": "requests", "limit": 1}])
    boundary = next_boundary(window, await clock(gw))
    await move_to(gw, boundary - timedelta(seconds=5))
    assert await status_of(gw, t) == 200
    assert await status_of(gw, t) == 429
    await move_to(gw, boundary - timedelta(seconds=2))
    assert await status_of(gw, t) == 429
    await move_to(gw, boundary + timedelta(milliseconds=50))
    assert await status_of(gw, t) == 200
    assert await status_of(gw, t) == 429


async def test_month_window_crosses_the_year(gw: Gateway) -> None:
    t = await tenant(gw, quotas=[{"window": "month", "metric": "requests", "limit": 1}])
    now = await clock(gw)
    new_year = datetime(now.year + 1, 1, 1, tzinfo=UTC)
    await move_to(gw, new_year - timedelta(seconds=5))
    assert await status_of(gw, t) == 200
    assert await status_of(gw, t) == 429
    await move_to(gw, new_year + timedelta(milliseconds=50))
    assert await status_of(gw, t) == 200


async def test_total_never_resets(gw: Gateway) -> None:
    t = await tenant(gw, quotas=[{"window": "total", "metric": "requests", "limit": 1}])
    assert await status_of(gw, t) == 200
    await gw.advance_clock(400 * 86_400_000)
    async with openai_client(gw, t.key) as client:
        with pytest.raises(openai.RateLimitError) as caught:
            await client.chat.completions.create(model=MODEL, messages=HI, max_tokens=10)
    body = caught.value.body
    assert isinstance(body, dict)
    assert "resets_at" not in body
    assert caught.value.response.headers["x-should-retry"] == "false"


async def key_used(gw: Gateway, t: Tenant) -> dict[tuple[str, str], int]:
    status, body = await gw.admin("GET", f"/admin/v1/keys/{t.key_id}/usage")
    assert status == 200, body
    return {(w["window"], w["metric"]): w["used"] for w in body["windows"]}


@pytest.mark.parametrize(("window", "period_s"), [("minute", 60), ("hour", 3600)])
async def test_sliding_window_frees_after_period_plus_at_most_one_granule(
    gw: Gateway, window: str, period_s: int
) -> None:
    t = await tenant(gw, quotas=[{"window": window, "metric": "requests", "limit": 1}])
    assert await status_of(gw, t) == 200
    sent = await clock(gw)
    await move_to(gw, sent + timedelta(seconds=period_s - 0.5))
    assert await status_of(gw, t) == 429  # never frees early
    await move_to(gw, sent + timedelta(seconds=period_s * 13 / 12 + 0.5))
    assert await status_of(gw, t) == 200  # freed within one granule (1/12) of the period


async def test_minute_boundary_allows_no_burst_and_bounds_the_error(gw: Gateway) -> None:
    """Fill late in a minute; just past the boundary the limit still holds. Then measure how
    long after they were sent the units stop counting: always in (60 s, 65 s]."""
    limit = 5
    t = await tenant(gw, quotas=[{"window": "minute", "metric": "requests", "limit": limit}])
    now = await clock(gw)
    ahead = 1 if now.second < 50 else 2  # room to move forward to 3 s before a boundary
    minute = now.replace(second=0, microsecond=0) + timedelta(minutes=ahead)
    await move_to(gw, minute - timedelta(seconds=3))  # the last granule of the minute
    for _ in range(limit):
        assert await status_of(gw, t) == 200
    sent = await clock(gw)
    await move_to(gw, minute + timedelta(seconds=2))
    assert await status_of(gw, t) == 429  # no 2x burst across the boundary
    freed_after = await _seconds_until_free(gw, t, sent)
    assert 60 < freed_after <= 65
    await _worst_case_frees_at_65_s(gw)


async def _seconds_until_free(gw: Gateway, t: Tenant, sent: datetime) -> float:
    """From 59.5 s after `sent`, step the clock 20 ms at a time until the window is empty."""
    await move_to(gw, max(await clock(gw), sent + timedelta(seconds=59.5)))
    while (await key_used(gw, t))[("minute", "requests")] > 0:
        await gw.advance_clock(20)
    return (await clock(gw) - sent).total_seconds()


async def _used_when(gw: Gateway, t: Tenant, start: datetime, after_s: float) -> Probe:
    """Whether the minute window still counts the unit `after_s` seconds after `start`,
    and the clock's reading before and after the look: the gateway's clock runs on while
    the look is in flight, so the window was judged at some instant between the two."""
    target = start + timedelta(seconds=after_s)
    if target > await clock(gw):
        await move_to(gw, target)
    before = (await clock(gw) - start).total_seconds()
    used = (await key_used(gw, t))[("minute", "requests")] > 0
    after = (await clock(gw) - start).total_seconds()
    return Probe(used, before, after)


@dataclass(frozen=True)
class Probe:
    used: bool
    from_s: float
    to_s: float


async def _worst_case_frees_at_65_s(gw: Gateway) -> None:
    """A unit counted in the first instant of a 5 s granule counts the longest: 65 s from
    the granule's start, still counted at 64.8 s, gone by 65.1 s. A look that took longer
    than the margin it tests (a loaded machine: the clock ran on meanwhile) proves neither,
    and is made again with a new unit."""
    for _ in range(5):
        t = await tenant(gw, quotas=[{"window": "minute", "metric": "requests", "limit": 1}])
        now_ms = await gw.store.now_ms()
        await gw.advance_clock(5000 - now_ms % 5000 + 1)  # just into a fresh 5 s granule
        start = datetime.fromtimestamp((now_ms // 5000 + 1) * 5, UTC)
        assert await status_of(gw, t) == 200
        if (await clock(gw) - start).total_seconds() >= 5:  # counted in the next granule
            continue
        early = await _used_when(gw, t, start, 64.8)
        if early.to_s >= 65.0:  # judged at or past the instant it frees: inconclusive
            continue
        assert early.used, early  # never frees early
        late = await _used_when(gw, t, start, 65.0)
        if late.to_s > 65.1:
            continue
        assert not late.used, late  # freed within 65 s
        return
    pytest.fail("five looks in a row took longer than 100 ms of the gateway's clock")


def reserved_per_request(gw: Gateway, max_tokens: int) -> int:
    price = gw.app[PRICING].lookup(MODEL)
    assert price is not None
    return gw.app[COUNTER].count_chat_prompt(price.encoding, HI) + max_tokens


async def test_200_concurrent_requests_never_overshoot(gw: Gateway) -> None:
    per = reserved_per_request(gw, max_tokens=100)
    limit = 20 * per
    t = await tenant(gw, quotas=[{"window": "day", "metric": "tokens", "limit": limit}])
    n_in = per - 100
    # Actual usage equals the reservation, so a settlement frees no room and the count of
    # admitted requests cannot depend on how the 200 arrive over time.
    gw.control.usage = {"prompt_tokens": n_in, "completion_tokens": 100, "total_tokens": per}
    gw.control.delay_s = 0.5
    peak = 0
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, (await key_used(gw, t))[("day", "tokens")])
            await asyncio.sleep(0.01)

    async def one(client: openai.AsyncOpenAI) -> int:
        try:
            await client.chat.completions.create(model=MODEL, messages=HI, max_tokens=100)
        except openai.RateLimitError:
            return 429
        return 200

    watcher = asyncio.create_task(watch())
    async with openai_client(gw, t.key, timeout=30) as client:
        results = await asyncio.gather(*(one(client) for _ in range(200)))
    done.set()
    await watcher
    assert results.count(200) == 20
    assert results.count(429) == 180
    assert gw.control.hits_by_path[CHAT] == 20
    assert 0 < peak <= limit
    await gw.settle_all()
    assert (await key_used(gw, t))[("day", "tokens")] == limit


async def test_settlement_replaces_the_reserved_amount_with_the_actual(gw: Gateway) -> None:
    per = reserved_per_request(gw, max_tokens=100)
    t = await tenant(gw, quotas=[{"window": "day", "metric": "tokens", "limit": 10 * per}])
    gw.control.usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    async with openai_client(gw, t.key) as client:
        for _ in range(3):
            await client.chat.completions.create(model=MODEL, messages=HI, max_tokens=100)
    await gw.settle_all()
    assert (await key_used(gw, t))[("day", "tokens")] == 3 * 18


async def test_usage_api_agrees_with_reserve_script_on_every_window(gw: Gateway) -> None:
    """billing/money/windows.py (read side) must name and reset counters exactly as reserve.lua."""
    # a key is minted no wider than its account: the free plan's own limits where it has them
    plan = {(q.window, q.metric): q.limit for q in gw.app[PLANS].plans["free"].quotas}
    quotas: list[dict[str, Any]] = [
        {"window": w, "metric": m, "limit": plan.get((w, m), 10**9)}
        for w in ("minute", "hour", "day", "week", "month", "total")
        for m in ("requests", "input_tokens", "output_tokens", "tokens", "spend_micros")
    ]
    t = await tenant(gw, plan="free", quotas=quotas)
    gw.control.usage = {"prompt_tokens": 11, "completion_tokens": 13, "total_tokens": 24}
    assert await status_of(gw, t) == 200
    await gw.settle_all()
    used = await key_used(gw, t)
    assert len(used) == 30
    expected = {"requests": 1, "input_tokens": 11, "output_tokens": 13, "tokens": 24}
    for (window, metric), value in used.items():
        assert value == expected.get(metric, value), (window, metric)
        assert value > 0, (window, metric)
    status, body = await gw.admin("GET", f"/admin/v1/accounts/{t.account_id}/usage")
    assert status == 200
    assert {w["window"] for w in body["windows"]} == {"minute", "day", "month"}
    for w in body["windows"]:
        assert w["used"] > 0, w
        assert w["resets_at"].endswith("Z")
