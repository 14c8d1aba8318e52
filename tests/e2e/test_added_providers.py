"""Any OpenAI-compatible host by configuration alone, through the official openai SDK: a
`[providers.NAME]` table sends its models to that host with its key, priced from the
catalogue's provider of that name or by the operator; an unknown model is refused by name."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest

from gateway.devtools.demo_upstream import RunningUpstream, UpstreamControl, start_upstream
from tests.support.factories import debits, openai_client, tenant
from tests.support.harness import Gateway, config_dir_with, running_gateway
from tests.support.invariants import check_invariants
from tests.unit.test_added_providers import HOUSE

USAGE = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}


@dataclass
class Hosts:
    gw: Gateway
    groq: RunningUpstream
    vllm: RunningUpstream


@pytest.fixture
async def hosts(dsn: str, tmp_path: Path) -> AsyncIterator[Hosts]:
    config_dir_with(tmp_path, pricing=HOUSE)
    async with (
        await start_upstream(control=UpstreamControl()) as groq,
        await start_upstream(control=UpstreamControl()) as vllm,
    ):
        config = tmp_path / "meterway.toml"
        config.write_text(
            f'[providers.groq]\nbase_url = "{groq.url}/v1"\napi_key = "gsk-groq"\n'
            f'[providers.vllm]\nbase_url = "{vllm.url}/v1"\napi_key = "vllm-key"\n'
            'catalogue = ""\n'
        )
        async with running_gateway(dsn, config, MW_CONFIG_DIR=str(tmp_path)) as gw:
            yield Hosts(gw, groq, vllm)
            await gw.settle_all()


async def test_a_catalogue_model_of_an_added_host_is_sent_there_and_billed_at_its_price(
    hosts: Hosts,
) -> None:
    gw = hosts.gw
    t = await tenant(gw, credit=1_000_000)
    hosts.groq.control.usage = USAGE
    async with openai_client(gw, t.key) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="groq/llama-3.3-70b-versatile",
            messages=[{"role": "user", "content": "hi"}],
            max_tokens=600,
        )
        stream = await client.chat.completions.create(
            model="groq/llama-3.3-70b-versatile",
            messages=[{"role": "user", "content": "hi"}],
            max_tokens=600,
            stream=True,
        )
        chunks = [chunk async for chunk in stream]
    assert raw.parse().choices[0].message.content and chunks
    # groq llama-3.3-70b-versatile: 1000 x $0.59/M + 500 x $0.79/M = 590 + 395 micros.
    assert raw.headers["x-meterway-cost-micros"] == "985"
    sent = hosts.groq.control.requests
    assert [r.body["model"] for r in sent] == ["llama-3.3-70b-versatile"] * 2
    assert {r.headers["authorization"] for r in sent} == {"Bearer gsk-groq"}
    assert gw.control.hits == 0 and hosts.vllm.control.hits == 0
    rows = await debits(gw, t.account_id)
    assert sorted(r["amount_micros"] for r in rows) == [-985, -985]
    assert {r["model"] for r in rows} == {"groq/llama-3.3-70b-versatile"}
    await check_invariants(gw.stores(), [t.account_id])


async def test_an_operator_priced_model_of_a_host_without_catalogue(hosts: Hosts) -> None:
    gw = hosts.gw
    t = await tenant(gw, credit=1_000_000)
    hosts.vllm.control.usage = USAGE
    async with openai_client(gw, t.key) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="house-llama", messages=[{"role": "user", "content": "hi"}], max_tokens=600
        )
    # 1000 x $0.10/M + 500 x $0.30/M = 100 + 150 micros.
    assert raw.headers["x-meterway-cost-micros"] == "250"
    [sent] = hosts.vllm.control.requests
    assert sent.body["model"] == "meta-llama/Llama-3.3-70B-Instruct"
    assert sent.headers["authorization"] == "Bearer vllm-key"
    assert [r["amount_micros"] for r in await debits(gw, t.account_id)] == [-250]
    await check_invariants(gw.stores(), [t.account_id])


@pytest.mark.parametrize("model", ["groq/no-such-model", "vllm/llama-3.3-70b-versatile"])
async def test_an_unknown_model_of_an_added_host_is_refused_by_name(
    hosts: Hosts, model: str
) -> None:
    t = await tenant(hosts.gw, credit=1_000_000)
    async with openai_client(hosts.gw, t.key) as client:
        with pytest.raises(openai.NotFoundError) as caught:
            await client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "hi"}]
            )
    assert f"'{model}'" in caught.value.message
    assert hosts.groq.control.hits == hosts.vllm.control.hits == 0
    assert [r for r in await debits(hosts.gw, t.account_id)] == []


# xAI reports reasoning outside completion_tokens (genai-prices' x-ai extractor adds it).
XAI_USAGE = {
    "prompt_tokens": 2000,
    "completion_tokens": 500,
    "total_tokens": 5000,
    "completion_tokens_details": {"reasoning_tokens": 2500},
}


@pytest.fixture
async def xai(dsn: str, tmp_path: Path) -> AsyncIterator[tuple[Gateway, RunningUpstream]]:
    config_dir_with(tmp_path)
    async with await start_upstream(control=UpstreamControl()) as host:
        config = tmp_path / "meterway.toml"
        config.write_text(
            f'[providers.xai]\nbase_url = "{host.url}/v1"\napi_key = "xai-key"\n'
            'catalogue = "x-ai"\n'
        )
        async with running_gateway(dsn, config, MW_CONFIG_DIR=str(tmp_path)) as gw:
            yield gw, host
            await gw.settle_all()


async def test_xai_reasoning_is_billed_on_top_of_its_completion(
    xai: tuple[Gateway, RunningUpstream],
) -> None:
    """grok-4-0709, per 1M: input $3, output $15; 2,000 in, 500 completion and 2,500
    reasoning out: 6,000 + 3,000 x 15 = 51,000 micros (13,500 were the reasoning free),
    the same streamed."""
    gw, host = xai
    t = await tenant(gw, credit=1_000_000)
    host.control.usage = XAI_USAGE
    body: dict[str, Any] = {
        "model": "xai/grok-4-0709",
        "messages": [{"role": "user", "content": "think"}],
        "max_tokens": 4000,
    }
    async with openai_client(gw, t.key) as client:
        raw = await client.chat.completions.with_raw_response.create(**body)
        stream = await client.chat.completions.create(**body, stream=True)
        [chunk async for chunk in stream]
    assert raw.headers["x-meterway-cost-micros"] == "51000"
    rows = await debits(gw, t.account_id)
    assert [r["amount_micros"] for r in rows] == [-51_000, -51_000]
    assert {(r["output_tokens"], r["reasoning_tokens"]) for r in rows} == {(3000, 2500)}
    await check_invariants(gw.stores(), [t.account_id])
