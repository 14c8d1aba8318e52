"""Leases end to end (LEASES=1), driven by the official OpenAI SDK: a busy key's calls cost
Redis an append each instead of two scripts, every call is billed once, a window is never
passed by the processes' leases together, and a revoked key is refused as soon as the
revocation returns."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
import redis.asyncio as aioredis

from gateway.background import LEASE_KEEP_S
from gateway.http.appkeys import METER
from gateway.stores.redis.leases.process import Leases
from tests.bench.redis_work import QUIET, private_redis
from tests.support.factories import openai_client, tenant
from tests.support.harness import ADMIN_KEY, Gateway, running_gateway
from tests.support.invariants import check_invariants

CALLS = 240
OPERATOR = {"Authorization": f"Bearer {ADMIN_KEY}"}
AT_ONCE = 16
HI: list[Any] = [{"role": "user", "content": "hi"}]


@pytest.fixture
async def leased(dsn: str) -> AsyncIterator[tuple[Gateway, aioredis.Redis]]:
    """A gateway with leases on, on a Redis of its own (its command counts are its own)."""
    async with (
        private_redis() as url,
        running_gateway(dsn, None, REDIS_URL=url, LEASES="1", **QUIET) as gw,
    ):
        client = aioredis.Redis.from_url(url)
        try:
            yield gw, client
        finally:
            await client.aclose()


async def _burst(gw: Gateway, key: str, calls: int) -> tuple[dict[str, int], int]:
    """`calls` chat calls, AT_ONCE at a time: each answer's cost by request id, and how many
    were refused with a 429."""
    costs: dict[str, int] = {}
    refused = 0
    gate = asyncio.Semaphore(AT_ONCE)
    async with openai_client(gw, key) as client:

        async def one() -> None:
            nonlocal refused
            async with gate:
                try:
                    raw = await client.chat.completions.with_raw_response.create(
                        model="gpt-4o-mini", messages=HI, max_tokens=20
                    )
                except openai.RateLimitError:
                    refused += 1
                    return
                costs[raw.headers["x-request-id"]] = int(raw.headers["x-meterway-cost-micros"])

        await asyncio.gather(*(one() for _ in range(calls)))
    return costs, refused


async def _calls(client: aioredis.Redis) -> dict[str, int]:
    info = await client.info("commandstats")
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in info.items()}


async def test_a_busy_key_costs_redis_an_append_a_call_and_is_billed_once(
    leased: tuple[Gateway, aioredis.Redis],
) -> None:
    """Every script Redis ran is a lease's (a grant, or one of the keeper's batches, which
    come every 50 ms whatever the number of calls) or one of the few calls made before the
    key was busy: a leased call runs none. Each call is billed once."""
    gw, redis = leased
    t = await tenant(gw, credit=100_000_000)
    await _burst(gw, t.key, 1)  # scripts loaded, the key cached
    leases = gw.store.leases
    await redis.config_resetstat()
    before = (leases.grants, leases.admitted, leases.runs.scripts)
    costs, refused = await _burst(gw, t.key, CALLS)
    await gw.app[METER].drain()
    await leases.close_all()  # what the calls appended, applied
    counted = await _calls(redis)
    grants, admitted, runs = (
        now - was
        for now, was in zip(
            (leases.grants, leases.admitted, leases.runs.scripts), before, strict=True
        )
    )
    assert refused == 0 and len(costs) == CALLS
    scripts = counted.get("evalsha", 0) + counted.get("eval", 0)
    per_request = CALLS - admitted
    print(f"{CALLS} calls: {admitted} leased, {grants} grants, {runs} batches, {scripts} scripts")
    assert admitted >= CALLS - 2 * AT_ONCE  # all but the first, before the key was busy
    # Beside the leases' own: a reserve and a settle per call made before the key was busy
    # (and one more where a grant's counters were not known yet, or the warm-up's settle).
    assert scripts - grants - runs <= 2 * per_request + 2, counted
    await gw.settle_all()
    report = await check_invariants(gw.stores(), [t.account_id], costs, costs)
    assert report.debits == CALLS + 1 and not report.unbilled


async def _lease_metrics(gw: Gateway) -> dict[str, float]:
    """The lease families' samples in /metrics, by name (and result)."""
    async with gw.http.get(gw.url + "/metrics", headers=OPERATOR) as r:
        assert r.status == 200
        text = await r.text()
    found: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name.startswith(("meterway_lease", "meterway_leased")):
            found[name] = float(value)
    return found


def _counted(leases: Leases) -> dict[str, float]:
    """What the metrics should say of the process's own counts (its leases' counters)."""
    return {
        'meterway_lease_grants_total{result="granted"}': leases.granted,
        'meterway_lease_grants_total{result="refused"}': leases.grants - leases.granted,
        "meterway_leased_calls_total": leases.admitted,
        "meterway_lease_batches_total": leases.runs.scripts,
        "meterway_lease_reclaims_total": leases.reclaims,
        "meterway_leases_open": leases.held(),
    }


async def test_what_the_leases_count_reaches_metrics_with_the_keepers_next_round(
    leased: tuple[Gateway, aioredis.Redis],
) -> None:
    """Leases granted, calls admitted under them, batches run and leases held: /metrics says
    what the process's leases counted (the keeper adds it each round; a leased call updates
    no metric itself)."""
    gw, _ = leased
    leases = gw.store.leases
    t = await tenant(gw, credit=100_000_000)
    await _burst(gw, t.key, CALLS)
    await gw.app[METER].drain()
    assert leases.granted >= 1 and leases.admitted >= CALLS - 2 * AT_ONCE
    deadline = asyncio.get_running_loop().time() + 5.0
    while True:  # the metrics are the process's: other gateways of this test run count too
        shown, counted = await _lease_metrics(gw), _counted(leases)
        if all(shown.get(name, 0.0) >= value for name, value in counted.items()) and (
            shown["meterway_leases_open"] == counted["meterway_leases_open"]
        ):
            break
        assert asyncio.get_running_loop().time() < deadline, (shown, counted)
        await asyncio.sleep(LEASE_KEEP_S)
    await leases.close_all()


async def test_the_leases_of_a_busy_key_never_pass_its_window(
    leased: tuple[Gateway, aioredis.Redis],
) -> None:
    """100 requests a minute allowed, 160 asked at once: exactly 100 answered, the rest
    refused by name, and every answer billed once."""
    gw, _ = leased
    t = await tenant(gw, credit=100_000_000)
    status, _ = await gw.admin(
        "PUT",
        f"/admin/v1/keys/{t.key_id}/quotas",
        {"quotas": [{"window": "minute", "metric": "requests", "limit": 100}]},
    )
    assert status == 200
    costs, refused = await _burst(gw, t.key, 160)
    assert len(costs) <= 100 and len(costs) + refused == 160
    await gw.settle_all()  # the leases given back: what they held unused admits again
    more, _ = await _burst(gw, t.key, 100 - len(costs) + 5)
    assert len(costs) + len(more) == 100
    await gw.settle_all()
    await check_invariants(gw.stores(), [t.account_id], {**costs, **more}, [*costs, *more])


async def test_the_lease_keeper_is_supervised_and_shown_in_readyz(
    leased: tuple[Gateway, aioredis.Redis],
) -> None:
    gw, _ = leased
    async with gw.http.get(
        gw.url + "/readyz", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    ) as r:
        body = await r.json()
    assert r.status == 200, body
    assert body["tasks"]["leases"]["running"] and body["tasks"]["leases"]["healthy"], body


async def test_a_revoked_key_is_refused_as_soon_as_the_revocation_returns(
    leased: tuple[Gateway, aioredis.Redis],
) -> None:
    gw, _ = leased
    t = await tenant(gw, credit=100_000_000)
    await _burst(gw, t.key, 40)  # a lease is live now
    status, _ = await gw.admin("DELETE", f"/admin/v1/keys/{t.key_id}")
    assert status == 200
    async with openai_client(gw, t.key) as client:
        with pytest.raises(openai.AuthenticationError):
            await client.chat.completions.create(model="gpt-4o-mini", messages=HI, max_tokens=5)
    await gw.settle_all()
    await check_invariants(gw.stores(), [t.account_id])
