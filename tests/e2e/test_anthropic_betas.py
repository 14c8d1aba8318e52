"""Anthropic beta headers through the official SDK: every beta passes and is forwarded as
sent, billed from the usage Anthropic reports, except those whose cost the usage does not
carry, refused with a 400 naming them before anything is reserved or forwarded. An unknown
beta (Claude Code sends several) passes too, unless ANTHROPIC_UNKNOWN_BETAS=refuse."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import pytest

from tests.support.factories import anthropic_client, balance, debits, held, tenant
from tests.support.harness import Gateway, running_gateway

MODEL = "claude-haiku-4-5"
MESSAGES: list[Any] = [{"role": "user", "content": "Think, then answer."}]
USAGE = {"input_tokens": 1000, "output_tokens": 500}
COST = 3_500  # claude-haiku-4-5: 1000 x $1.00/M + 500 x $5.00/M
THINKING = ["interleaved-thinking-2025-05-14", "fine-grained-tool-streaming-2025-05-14"]


def sent_betas(gw: Gateway) -> str | None:
    return gw.control.last_request.headers.get("anthropic-beta")


async def test_beta_messages_create_passes_betas_that_leave_the_price_as_reported(
    gw: Gateway,
) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = USAGE
    async with anthropic_client(gw, t.key) as client:
        message = await client.beta.messages.create(
            model=MODEL, max_tokens=600, messages=MESSAGES, betas=THINKING
        )
    assert message.content and message.usage.output_tokens == 500
    assert sent_betas(gw) == ",".join(THINKING)
    assert [-r["amount_micros"] for r in await debits(gw, t.account_id)] == [COST]


async def test_beta_stream_passes_and_carries_its_debit(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = USAGE
    client = anthropic_client(gw, t.key)
    async with (
        client,
        client.beta.messages.stream(
            model=MODEL, max_tokens=600, messages=MESSAGES, betas=THINKING
        ) as stream,
    ):
        events = [event async for event in stream]
    (delta,) = [e for e in events if e.type == "message_delta"]
    assert (delta.usage.model_extra or {}).get("cost_micros") == COST
    assert sent_betas(gw) == ",".join(THINKING)
    assert [-r["amount_micros"] for r in await debits(gw, t.account_id)] == [COST]


@pytest.mark.parametrize(
    "header",
    [
        "context-1m-2025-08-07",
        "extended-cache-ttl-2025-04-11",
        " token-efficient-tools-2025-02-19 , prompt-caching-2024-07-31",
    ],
)
async def test_priced_betas_are_forwarded_exactly_as_sent(gw: Gateway, header: str) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = USAGE
    body = {"model": MODEL, "max_tokens": 600, "messages": MESSAGES}
    headers = {"x-api-key": t.key, "anthropic-beta": header}
    async with gw.http.post(gw.url + "/v1/messages", json=body, headers=headers) as r:
        assert r.status == 200, await r.text()
    assert sent_betas(gw) == header.strip()  # aiohttp strips the value's outer spaces


async def test_no_beta_header_forwards_none(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    async with anthropic_client(gw, t.key) as client:
        await client.messages.create(model=MODEL, max_tokens=600, messages=MESSAGES)
    assert sent_betas(gw) is None


@pytest.mark.parametrize(
    ("betas", "refused", "why"),
    [
        (["code-execution-2025-05-22"], "code-execution-2025-05-22", "container hours"),
        ([*THINKING, "files-api-2025-04-14"], "files-api-2025-04-14", "reads files by id"),
        (["mcp-client-2025-11-20"], "mcp-client-2025-11-20", "MCP"),
    ],
)
async def test_betas_with_an_unpriced_effect_are_refused_by_name(
    gw: Gateway, betas: list[str], refused: str, why: str
) -> None:
    t = await tenant(gw, credit=1_000_000)
    hits = gw.control.hits
    async with anthropic_client(gw, t.key) as client:
        with pytest.raises(anthropic.BadRequestError) as caught:
            await client.beta.messages.create(
                model=MODEL, max_tokens=600, messages=MESSAGES, betas=betas
            )
    error = caught.value.body["error"]  # type: ignore[index]
    assert error["type"] == "invalid_request_error" and error["unpriced_option"] == refused
    assert f"anthropic-beta '{refused}'" in error["message"] and why in error["message"]
    assert gw.control.hits == hits
    assert await balance(gw, t.account_id) == 1_000_000 and await held(gw, t.account_id) == 0


async def test_output_128k_reserves_a_max_tokens_above_the_default_cap_in_full(
    gw: Gateway,
) -> None:
    """claude-3-7-sonnet's default cap is 64,000 output tokens; with the beta, 100,000 is
    accepted and held whole (100,000 x $15/M = $1.50) while the call runs."""
    t = await tenant(gw, credit=5_000_000)
    big: dict[str, Any] = {
        "model": "claude-3-7-sonnet",
        "max_tokens": 100_000,
        "messages": MESSAGES,
    }
    async with anthropic_client(gw, t.key) as client:
        with pytest.raises(anthropic.BadRequestError, match="max_tokens"):
            await client.messages.create(**big, timeout=30)
        gw.control.usage, gw.control.delay_s = USAGE, 0.5
        call = asyncio.ensure_future(
            client.beta.messages.create(**big, betas=["output-128k-2025-02-19"], timeout=30)
        )
        async with asyncio.timeout(10):
            await gw.control.wait_until(lambda c: c.hits >= 1)
        assert await held(gw, t.account_id) >= 1_500_000
        await call
    assert sent_betas(gw) == "output-128k-2025-02-19"
    assert len(await debits(gw, t.account_id)) == 1 and await held(gw, t.account_id) == 0


# What `claude -p` 2.1.x sends on every call (POST /v1/messages?beta=true, streaming).
CLAUDE_CODE = [
    "claude-code-20250219",
    "context-1m-2025-08-07",
    "interleaved-thinking-2025-05-14",
    "thinking-token-count-2026-05-13",
    "context-management-2025-06-27",
    "prompt-caching-scope-2026-01-05",
    "mid-conversation-system-2026-04-07",
    "effort-2025-11-24",
]


async def test_claude_codes_betas_pass_and_are_billed_from_the_reported_usage(
    gw: Gateway,
) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = USAGE
    async with (
        anthropic_client(gw, t.key) as client,
        client.beta.messages.stream(
            model=MODEL,
            max_tokens=600,
            messages=MESSAGES,
            betas=CLAUDE_CODE,
            extra_query={"beta": "true"},
        ) as stream,
    ):
        final = await stream.get_final_message()
    assert final.usage.output_tokens == 500
    assert sent_betas(gw) == ",".join(CLAUDE_CODE)
    assert [-r["amount_micros"] for r in await debits(gw, t.account_id)] == [COST]
    assert await held(gw, t.account_id) == 0


async def test_the_root_answers_head_and_get(gw: Gateway) -> None:
    async with gw.http.head(f"{gw.url}/") as head, gw.http.get(f"{gw.url}/") as get:
        assert head.status == 200 and get.status == 200
        assert (await get.json())["object"] == "meterway"


async def test_an_operator_may_keep_refusing_unknown_betas(dsn: str) -> None:
    async with running_gateway(dsn, ANTHROPIC_UNKNOWN_BETAS="refuse") as strict:
        t = await tenant(strict, credit=1_000_000)
        hits = strict.control.hits
        async with anthropic_client(strict, t.key) as client:
            with pytest.raises(anthropic.BadRequestError) as caught:
                await client.beta.messages.create(
                    model=MODEL, max_tokens=600, messages=MESSAGES, betas=["xyz-2099-01-01"]
                )
            passed = await client.beta.messages.create(
                model=MODEL, max_tokens=600, messages=MESSAGES, betas=THINKING
            )
        error = caught.value.body["error"]  # type: ignore[index]
        assert error["unpriced_option"] == "xyz-2099-01-01"
        assert "anthropic-beta 'xyz-2099-01-01' has an unknown price effect" in error["message"]
        assert passed.content and strict.control.hits == hits + 1
