"""Prices through the gateway, driven by the official SDKs against the fake provider: every
price dimension the catalogue knows, reserved and billed, dated prices, catalogue names."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from tests.support.factories import anthropic_client, debits, openai_client, tenant
from tests.support.harness import Gateway, running_gateway

CONFIG = Path(__file__).resolve().parents[2] / "config"
DAY_MS = 86_400_000
HI = [{"role": "user", "content": "hi"}]


async def _chat(gw: Gateway, key: str, **kw: Any) -> Any:
    async with openai_client(gw, key) as client:
        return await client.chat.completions.with_raw_response.create(**kw)


def _cost(raw: Any) -> int:
    return int(raw.headers["x-meterway-cost-micros"])


# ---------------------------------------------------------------- context-length tiers

LONG_PROMPT = [{"role": "user", "content": "hello " * 250_000}]
LONG_USAGE = {"prompt_tokens": 250_000, "completion_tokens": 1000, "total_tokens": 251_000}


async def test_a_long_gemini_prompt_is_billed_whole_at_the_long_context_rates(gw: Gateway) -> None:
    t = await tenant(gw, credit=10_000_000)
    gw.control.usage = LONG_USAGE
    raw = await _chat(gw, t.key, model="gemini-2.5-pro", messages=LONG_PROMPT, max_tokens=1000)
    # Above 200k prompt tokens: $2.50 in, $15 out per 1M, on every token.
    assert _cost(raw) == 640_000
    assert [r["amount_micros"] for r in await debits(gw, t.account_id)] == [-640_000]


async def test_a_long_prompt_is_reserved_at_the_long_context_rates(gw: Gateway) -> None:
    t = await tenant(gw, credit=400_000)  # covers the base rates' worst case, not the long
    with pytest.raises(openai.APIStatusError) as refused:
        await _chat(gw, t.key, model="gemini-2.5-pro", messages=LONG_PROMPT, max_tokens=1000)
    assert refused.value.status_code == 402
    assert await debits(gw, t.account_id) == []


# ---------------------------------------------------------------- cache writes

SYSTEM_1H = [
    {"type": "text", "text": "rule " * 10_000, "cache_control": {"type": "ephemeral", "ttl": "1h"}}
]
CACHE_1H_USAGE = {
    "input_tokens": 100,
    "cache_creation_input_tokens": 10_000,
    "cache_creation": {"ephemeral_1h_input_tokens": 10_000, "ephemeral_5m_input_tokens": 0},
    "cache_read_input_tokens": 0,
    "output_tokens": 100,
}


async def _message(gw: Gateway, key: str, stream: bool = False, **kw: Any) -> int:
    async with anthropic_client(gw, key) as client:
        if not stream:
            raw = await client.messages.with_raw_response.create(**kw)
            return _cost(raw)
        async with client.messages.stream(**kw) as events:
            await events.get_final_message()
    return 0


@pytest.mark.parametrize("stream", [False, True])
async def test_one_hour_cache_writes_bill_at_twice_input(gw: Gateway, stream: bool) -> None:
    t = await tenant(gw, credit=10_000_000)
    gw.control.usage = CACHE_1H_USAGE
    cost = await _message(
        gw,
        t.key,
        stream,
        model="claude-sonnet-4-6",
        max_tokens=100,
        system=SYSTEM_1H,
        messages=[{"role": "user", "content": "hi"}],
    )
    # 100 x $3 + 10,000 x $6 (1-hour write) + 100 x $15, per 1M.
    assert cost in (0, 61_800)
    rows = await debits(gw, t.account_id)
    assert [r["amount_micros"] for r in rows] == [-61_800]
    assert rows[0]["cache_write_tokens"] == 10_000


async def test_a_one_hour_cache_request_is_reserved_at_the_one_hour_rate(gw: Gateway) -> None:
    t = await tenant(gw, credit=50_000)  # the 5-minute worst case fits, the 1-hour one does not
    with pytest.raises(anthropic.APIStatusError) as refused:
        await _message(
            gw,
            t.key,
            model="claude-sonnet-4-6",
            max_tokens=100,
            system=SYSTEM_1H,
            messages=[{"role": "user", "content": "hi"}],
        )
    assert refused.value.status_code == 402


# ---------------------------------------------------------------- modalities, fees, tiers


async def test_audio_tokens_bill_at_the_audio_rates(gw: Gateway) -> None:
    t = await tenant(gw, credit=10_000_000)
    gw.control.usage = {
        "prompt_tokens": 1000,
        "completion_tokens": 1000,
        "total_tokens": 2000,
        "prompt_tokens_details": {"audio_tokens": 400, "cached_tokens": 0},
        "completion_tokens_details": {"audio_tokens": 500, "reasoning_tokens": 0},
    }
    raw = await _chat(
        gw,
        t.key,
        model="gpt-audio",
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "wav"},
        messages=[{"role": "user", "content": "Say hi."}],
        max_tokens=1000,
    )
    # gpt-audio per 1M: text in $2.50, audio in $32, text out $10, audio out $64.
    units = 600 * 2_500_000 + 400 * 32_000_000 + 500 * 10_000_000 + 500 * 64_000_000
    assert _cost(raw) == units // 10**6


async def test_audio_output_is_refused_by_name_where_unpriced(gw: Gateway) -> None:
    t = await tenant(gw)
    with pytest.raises(openai.BadRequestError) as refused:
        await _chat(
            gw,
            t.key,
            model="gpt-4o-mini",
            modalities=["text", "audio"],
            messages=[{"role": "user", "content": "Say hi."}],
        )
    assert refused.value.body["param"] == "modalities"  # type: ignore[index]


async def test_anthropic_web_searches_bill_per_search(gw: Gateway) -> None:
    t = await tenant(gw, credit=10_000_000)
    gw.control.usage = {
        "input_tokens": 1000,
        "output_tokens": 1000,
        "server_tool_use": {"web_search_requests": 2},
    }
    cost = await _message(
        gw,
        t.key,
        model="claude-sonnet-4-6",
        max_tokens=1000,
        tools=[{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}],
        messages=[{"role": "user", "content": "News?"}],
    )
    # 1000 x $3 + 1000 x $15 per 1M, and 2 searches at $10 per 1k.
    assert cost == 3000 + 15_000 + 20_000


async def test_code_execution_is_refused_by_name(gw: Gateway) -> None:
    t = await tenant(gw)
    with pytest.raises(anthropic.BadRequestError) as refused:
        await _message(
            gw,
            t.key,
            model="claude-sonnet-4-6",
            max_tokens=100,
            tools=[{"type": "code_execution_20250522", "name": "code_execution"}],
            messages=[{"role": "user", "content": "Run it."}],
        )
    assert "code_execution" in str(refused.value.body)


@pytest.mark.parametrize("stream", [False, True])
async def test_a_flex_call_bills_at_the_flex_rates(gw: Gateway, stream: bool) -> None:
    t = await tenant(gw, credit=10_000_000)
    gw.control.usage = {"prompt_tokens": 1000, "completion_tokens": 1000, "total_tokens": 2000}
    gw.control.service_tier = "flex"
    extra: dict[str, Any] = {"stream": True, "stream_options": {"include_usage": True}}
    async with openai_client(gw, t.key) as client:
        answer = await client.chat.completions.create(
            model="gpt-5-mini",
            service_tier="flex",
            messages=[{"role": "user", "content": "hi"}],
            max_completion_tokens=1000,
            **(extra if stream else {}),
        )
        if stream:
            async for _ in answer:
                pass
    # gpt-5-mini flex per 1M: $0.125 in, $1 out (default: $0.25, $2).
    assert [r["amount_micros"] for r in await debits(gw, t.account_id)] == [-1125]


async def test_an_unpriced_service_tier_is_refused_by_name(gw: Gateway) -> None:
    t = await tenant(gw)
    with pytest.raises(openai.BadRequestError) as refused:
        await _chat(gw, t.key, model="gpt-4.1-nano", service_tier="flex", messages=HI)
    assert refused.value.body["param"] == "service_tier"  # type: ignore[index]


# ---------------------------------------------------------------- names and dates


async def test_a_catalogue_model_by_its_dated_name(gw: Gateway) -> None:
    t = await tenant(gw, credit=10_000_000)
    gw.control.usage = {"prompt_tokens": 1000, "completion_tokens": 1000, "total_tokens": 2000}
    raw = await _chat(
        gw, t.key, model="o3-pro-2025-06-10", messages=[{"role": "user", "content": "hi"}],
        max_completion_tokens=1000,
    )  # fmt: skip
    assert _cost(raw) == 20_000 + 80_000  # $20 in, $80 out per 1M
    assert gw.control.last_request.body["model"] == "o3-pro-2025-06-10"
    rows = await debits(gw, t.account_id)
    assert rows[0]["model"] == "o3-pro"


def _day(offset: int) -> str:
    return (datetime.now(UTC) + timedelta(days=offset)).date().isoformat()


@pytest.fixture
async def dated(dsn: str, tmp_path: Path) -> AsyncIterator[Gateway]:
    """A gateway whose own model's price changes the day after tomorrow."""
    shutil.copy(CONFIG / "plans.toml", tmp_path / "plans.toml")
    shutil.copy(CONFIG / "meters.toml", tmp_path / "meters.toml")
    (tmp_path / "pricing.toml").write_text(
        f"""[catalogue]
serve = false

[models."house"]
provider = "openai"
max_output_tokens = 1000

[[models."house".prices]]
from = "{_day(-1)}"
input = "1.00"
output = "2.00"

[[models."house".prices]]
from = "{_day(2)}"
input = "3.00"
output = "4.00"
"""
    )
    async with running_gateway(dsn, MW_CONFIG_DIR=str(tmp_path)) as gateway:
        yield gateway
        await gateway.settle_all()


async def test_a_call_is_priced_at_the_prices_in_force_when_admitted(dated: Gateway) -> None:
    gw = dated
    t = await tenant(gw, credit=10_000_000)
    gw.control.usage = {"prompt_tokens": 1000, "completion_tokens": 1000, "total_tokens": 2000}
    first = await _chat(gw, t.key, model="house", messages=[{"role": "user", "content": "hi"}])
    await gw.advance_clock(3 * DAY_MS)
    later = await _chat(gw, t.key, model="house", messages=[{"role": "user", "content": "hi"}])
    assert (_cost(first), _cost(later)) == (3000, 7000)
