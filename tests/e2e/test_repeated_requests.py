"""The repeated-request rule through the real gateway (official openai SDK, real PostgreSQL
and Redis): an agent loop sends the same request in a burst; the gateway's batch counts the
repeated prompt, the detector flags it, notifies, and (the account opted in) pauses the key,
whose next call is a 403 naming the pause. The dollars it let through are stated and bounded
by docs/guides/anomalies.md's figure. As many different requests, and a prompt the key sent
as often in an earlier week, are never flagged.

The batch and the detector's round are run by hand (what the supervised
`network_sightings` and `anomalies` tasks run every NETWORK_FLUSH_S and ANOMALY_EVERY_S)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import openai
import pytest

from billing.trust.anomalies import REPEAT_MIN
from gateway.http.appkeys import NETWORK_SIGHTINGS
from gateway.services.trust.network_sightings import prompt_digest
from gateway.workers.anomalies import Detector
from tests.e2e.test_new_network import debited_and_told, flags_of
from tests.support.factories import openai_client, tenant
from tests.support.harness import Gateway, running_gateway

LOOP = REPEAT_MIN + 10  # the loop's calls before the batch and the detector's round


@pytest.fixture
async def gw(dsn: str) -> AsyncIterator[Gateway]:
    """A gateway whose own detector waits an hour after its first round: each round here
    is run by hand, so no background round judges a test's calls first."""
    async with running_gateway(dsn, None, ANOMALY_EVERY_S="3600") as gateway:
        yield gateway
        await gateway.settle_all()


async def _calls(gw: Gateway, key: str, prompts: list[str]) -> list[int]:
    """One call per prompt, all at once; each one's charged micros, or -1 when paused."""
    async with openai_client(gw, key) as client:

        async def one(text: str) -> int:
            try:
                raw = await client.chat.completions.with_raw_response.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": text}]
                )
            except openai.PermissionDeniedError as exc:
                body: Any = exc.body
                assert body["code"] == "key_paused" and "/resume" in body["message"], body
                return -1
            return int(raw.headers["x-meterway-cost-micros"])

        return list(await asyncio.gather(*(one(p) for p in prompts)))


async def _round(gw: Gateway) -> list[Any]:
    await gw.app[NETWORK_SIGHTINGS].flush()
    flags = await Detector(gw.stores().anomalies(), gw.stores().store).run_once()
    return [f for f in flags if f["rule"] == "repeated_request"]


async def _opt_in(gw: Gateway, account: str) -> None:
    path = f"/admin/v1/accounts/{account}/anomaly-pause"
    status, _ = await gw.admin("PUT", path, {"pause": True})
    assert status == 200


async def test_an_agent_loop_sending_one_request_in_a_burst_is_flagged_and_paused(
    gw: Gateway,
) -> None:
    t = await tenant(gw, credit=50_000_000)
    await _opt_in(gw, t.account_id)
    loop = await _calls(gw, t.key, ["do the same thing again"] * LOOP)
    assert min(loop) > 0  # nothing stops it before the batch and the round
    await _round(gw)
    [flag] = await flags_of(gw, t.account_id, "repeated_request")
    assert flag["scope_id"] == t.key_id and flag["paused"]
    assert flag["figures"]["calls"] == LOOP and flag["figures"]["busiest_before"] == 0
    assert len(flag["request_ids"]) == 1
    assert await _calls(gw, t.key, ["do the same thing again"] * 3) == [-1, -1, -1]
    let_through = sum(loop)
    # docs/guides/anomalies.md: a loop spends at most one batch and one round past the floor.
    assert let_through == LOOP * loop[0] == 660  # $0.00066, as the guide states
    assert len(await debited_and_told(gw, t.account_id, t.key_id, let_through)) == 1


async def test_different_requests_and_a_steady_job_are_never_flagged(gw: Gateway) -> None:
    varied = await tenant(gw, credit=50_000_000)
    await _opt_in(gw, varied.account_id)
    assert min(await _calls(gw, varied.key, [f"question {n}" for n in range(LOOP)])) > 0
    await _round(gw)
    assert await flags_of(gw, varied.account_id, "repeated_request") == []

    steady = await tenant(gw, credit=50_000_000)
    await _opt_in(gw, steady.account_id)
    prompt = "the hourly report"
    digest = prompt_digest({"messages": [{"role": "user", "content": prompt}]})
    week_ago = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=7)
    await gw.stores().pool.execute(
        "INSERT INTO key_repeats (key_id, account_id, digest, hour, calls, first_request_id,"
        " recorded_at) VALUES ($1, $2, $3, $4, $5, 'req_then', $4)",
        steady.key_id, steady.account_id, digest, week_ago, LOOP,
    )  # fmt: skip
    assert min(await _calls(gw, steady.key, [prompt] * LOOP)) > 0
    await _round(gw)
    assert await flags_of(gw, steady.account_id, "repeated_request") == []  # a job, not a loop
    assert min(await _calls(gw, steady.key, [prompt] * 2)) > 0  # and never paused
