"""Deployments and fallback, through the official openai SDK: a model served by two upstreams
(east, dearer, weighted to go first; west) is retried on west when east answers 429 or
cannot be reached, never once a byte reached the client; east rests for its retry-after;
each call is billed once, at the price of the upstream that served it, and reserved at the
dearest; a plan can pin the providers its calls may go to."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from gateway.devtools.demo_upstream import RunningUpstream, UpstreamControl, start_upstream
from gateway.http.appkeys import UPSTREAMS
from tests.support.factories import debits, openai_client, tenant, usage_stream
from tests.support.harness import ADMIN_KEY, Gateway, config_dir_with, running_gateway
from tests.support.invariants import check_invariants
from tests.unit.test_deployments import pooled_model

USAGE = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
EAST_COST = 1000 * 2 + 500 * 4  # micros: $2.00 / $4.00 per 1M tokens
WEST_COST = 1000 * 1 + 500 * 2  # $1.00 / $2.00
POOLED = pooled_model("east", "west", 1_000_000)
PLANS = """
[plans.west-only]
mode = "prepaid"
providers = ["west"]

[plans.refusing]
mode = "prepaid"

[plans.nowhere]
mode = "prepaid"
providers = ["elsewhere"]
"""
MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]


@dataclass
class Pool:
    gw: Gateway
    east: RunningUpstream
    west: RunningUpstream


@pytest.fixture
async def pool(dsn: str, tmp_path: Path) -> AsyncIterator[Pool]:
    config_dir_with(tmp_path, pricing=POOLED, plans=PLANS)
    east = await start_upstream(control=UpstreamControl())
    async with await start_upstream(control=UpstreamControl()) as west:
        config = tmp_path / "meterway.toml"
        config.write_text(
            f'[providers.east]\nbase_url = "{east.url}/v1"\ncatalogue = ""\n'
            f'[providers.west]\nbase_url = "{west.url}/v1"\ncatalogue = ""\n'
        )
        env = {"MW_CONFIG_DIR": str(tmp_path), "UPSTREAM_COOLDOWN_S": "0.5"}
        try:
            async with running_gateway(dsn, config, **env) as gw:
                gw.app[UPSTREAMS].rng = random.Random(36)
                east.control.usage = west.control.usage = USAGE
                yield Pool(gw, east, west)
                await gw.settle_all()
        finally:
            await east.close()


async def _chat(gw: Gateway, key: str, *, stream: bool = False) -> str:
    """The cost the gateway reported for one call (the stream's usage chunk carries it)."""
    async with openai_client(gw, key) as client:
        if not stream:
            raw = await client.chat.completions.with_raw_response.create(
                model="pooled", messages=MESSAGES, max_tokens=600
            )
            assert raw.parse().choices[0].message.content
            return raw.headers["x-meterway-cost-micros"]
        chunks = await usage_stream(client, "pooled", MESSAGES, max_tokens=600)
        usage = [c.usage for c in chunks if c.usage is not None]
        return str((usage[-1].model_extra or {})["cost_micros"])


async def _operator_get(gw: Gateway, path: str) -> str:
    async with gw.http.get(gw.url + path, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as r:
        return await r.text()


async def test_east_429s_then_dies_and_every_call_is_served_by_west_once(pool: Pool) -> None:
    gw, east, west = pool.gw, pool.east, pool.west
    t = await tenant(gw, credit=1_000_000)
    east.control.status = 429
    east.control.error_headers = {"retry-after": "3"}  # the 4 calls below end well within it
    costs = [await _chat(gw, t.key)]
    assert (east.control.hits, west.control.hits) == (1, 1)
    assert '"east/pooled": {"state": "cooling"' in await _operator_get(gw, "/readyz")
    metrics = await _operator_get(gw, "/metrics")
    assert 'meterway_upstream_cooling{upstream="east/pooled"} 1.0' in metrics
    assert 'meterway_upstream_failures_total{reason="429",upstream="east/pooled"} 1.0' in metrics
    # East rests for its retry-after: nothing is sent to it, and it dies meanwhile.
    costs += [await _chat(gw, t.key, stream=i % 2 == 1) for i in range(4)]
    await east.close()
    assert east.control.hits == 1 and west.control.hits == 5
    await asyncio.sleep(3.1)
    # Out of its cool-down east is tried again: unreachable, so west serves, and east rests
    # UPSTREAM_COOLDOWN_S (no retry-after from a dead host).
    costs += [await _chat(gw, t.key), await _chat(gw, t.key, stream=True)]
    assert west.control.hits == 7
    assert costs == [str(WEST_COST)] * 7
    assert [r.body["model"] for r in west.control.requests] == ["pooled-west"] * 7
    rows = await debits(gw, t.account_id)
    assert [r["amount_micros"] for r in rows] == [-WEST_COST] * 7
    assert {r["provider"] for r in rows} == {"west"}
    # East back on its port: once its cool-down ends it serves again, at its own price.
    port = int(east.url.rsplit(":", 1)[1])
    async with await start_upstream(port=port, control=east.control) as back:
        back.control.reset()
        back.control.usage = USAGE
        await asyncio.sleep(0.6)
        assert await _chat(gw, t.key) == str(EAST_COST)
        assert back.control.hits == 1 and west.control.hits == 7
    rows = await debits(gw, t.account_id)
    assert sorted(r["amount_micros"] for r in rows) == sorted([-WEST_COST] * 7 + [-EAST_COST])
    await check_invariants(gw.stores(), [t.account_id])


async def test_a_stream_that_fails_after_its_first_byte_is_never_retried(pool: Pool) -> None:
    gw, east, west = pool.gw, pool.east, pool.west
    t = await tenant(gw, credit=1_000_000)
    east.control.chunks = 6
    east.control.fail_after_chunks = 2
    async with openai_client(gw, t.key) as client:
        stream = await client.chat.completions.create(
            model="pooled", messages=MESSAGES, max_tokens=600, stream=True
        )
        with pytest.raises(openai.APIError):
            async for _ in stream:
                pass
    assert (east.control.hits, west.control.hits) == (1, 0)
    rows = await debits(gw, t.account_id)
    assert len(rows) == 1 and rows[0]["provider"] == "east"  # what was delivered, counted
    await check_invariants(gw.stores(), [t.account_id])


async def test_5xx_fails_over_and_the_reservation_covers_the_dearest(pool: Pool) -> None:
    gw, east, west = pool.gw, pool.east, pool.west
    east.control.status = 503
    t = await tenant(gw, credit=1_000_000)
    assert await _chat(gw, t.key, stream=True) == str(WEST_COST)
    assert (east.control.hits, west.control.hits) == (1, 1)
    # 600 output tokens reserved at east's $4.00/M is 2400 micros: 2000 of credit (enough at
    # west's $2.00/M) is refused, since either may serve the call.
    poor = await tenant(gw, credit=2000, plan="refusing")
    async with openai_client(gw, poor.key) as client:
        with pytest.raises(openai.APIStatusError) as caught:
            await client.chat.completions.create(model="pooled", messages=MESSAGES, max_tokens=600)
    assert caught.value.status_code == 402
    assert west.control.hits == 1


async def test_a_plan_pins_the_providers_its_calls_go_to(pool: Pool) -> None:
    gw, east, west = pool.gw, pool.east, pool.west
    pinned = await tenant(gw, credit=1_000_000, plan="west-only")
    assert [await _chat(gw, pinned.key) for _ in range(3)] == [str(WEST_COST)] * 3
    assert (east.control.hits, west.control.hits) == (0, 3)
    nowhere = await tenant(gw, credit=1_000_000, plan="nowhere")
    async with openai_client(gw, nowhere.key) as client:
        with pytest.raises(openai.PermissionDeniedError, match="elsewhere"):
            await client.chat.completions.create(model="pooled", messages=MESSAGES)
    assert west.control.hits == 3
    assert await debits(gw, nowhere.account_id) == []
    await check_invariants(gw.stores(), [pinned.account_id, nowhere.account_id])


async def test_every_upstream_cooling_down_refuses_without_sending(pool: Pool) -> None:
    gw, east, west = pool.gw, pool.east, pool.west
    east.control.status = west.control.status = 429
    east.control.error_headers = west.control.error_headers = {"retry-after": "30"}
    t = await tenant(gw, credit=1_000_000)
    async with openai_client(gw, t.key) as client:
        with pytest.raises(openai.RateLimitError):  # west's own 429, the last one tried
            await client.chat.completions.create(model="pooled", messages=MESSAGES)
        with pytest.raises(openai.APIStatusError) as caught:
            await client.chat.completions.create(model="pooled", messages=MESSAGES)
    assert caught.value.status_code == 503
    assert caught.value.response.headers["retry-after"] in {"29", "30"}
    assert (east.control.hits, west.control.hits) == (1, 1)
    assert await debits(gw, t.account_id) == []


async def test_a_key_pinned_to_providers_is_served_by_them_only(pool: Pool) -> None:
    gw, east, west = pool.gw, pool.east, pool.west
    t = await tenant(gw, credit=1_000_000, providers=["west"])
    costs = [await _chat(gw, t.key), await _chat(gw, t.key, stream=True)]
    assert costs == [str(WEST_COST)] * 2
    assert (east.control.hits, west.control.hits) == (0, 2)
    elsewhere = await tenant(gw, credit=1_000_000, providers=["openai"])
    async with openai_client(gw, elsewhere.key) as client:
        with pytest.raises(openai.PermissionDeniedError) as caught:
            await client.chat.completions.create(model="pooled", messages=MESSAGES)
    assert "allows (openai)" in caught.value.message
    assert west.control.hits == 2
    assert [r["amount_micros"] for r in await debits(gw, elsewhere.account_id)] == []
    status, body = await gw.admin(
        "POST",
        "/admin/v1/keys",
        {"account_id": t.account_id, "name": "k", "providers": ["atlantis"]},
    )
    assert status == 400 and "'atlantis'" in body["error"]["message"]
    await check_invariants(gw.stores(), [t.account_id, elsewhere.account_id])
