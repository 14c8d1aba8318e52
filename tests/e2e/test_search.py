"""Web search through the gateway: chat's search models with `web_search_options` (a
per-call fee plus tokens, OpenAI's $25 per 1k calls for the search previews) and Anthropic's
server tools (web_search $10 per 1k uses, web_fetch at token cost only), priced by hand."""

from __future__ import annotations

import math
from fractions import Fraction

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.support.factories import anthropic_client, debits, openai_client, tenant
from tests.support.harness import Gateway

QUESTION = "What happened in the news today?"
MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": QUESTION}]


async def test_a_search_model_bills_its_call_fee_and_tokens(gw: Gateway) -> None:
    t = await tenant(gw, credit=10_000_000)
    async with openai_client(gw, t.key) as client:
        answer = await client.chat.completions.create(
            model="gpt-4o-mini-search-preview",
            messages=MESSAGES,
            web_search_options={"search_context_size": "low"},
            max_completion_tokens=50,
        )
    assert answer.usage is not None
    # $0.15 and $0.60 per 1M tokens, $0.025 a call; rounded up once.
    tokens = Fraction(15, 100) * answer.usage.prompt_tokens
    tokens += Fraction(60, 100) * answer.usage.completion_tokens
    expected = math.ceil(tokens + 25_000)
    assert [-r["amount_micros"] for r in await debits(gw, t.account_id)] == [expected]
    assert gw.control.last_request.body["web_search_options"] == {"search_context_size": "low"}


async def test_web_search_options_on_a_model_without_a_search_fee_is_refused(gw: Gateway) -> None:
    t = await tenant(gw)
    async with openai_client(gw, t.key) as client:
        with pytest.raises(openai.BadRequestError) as refused:
            await client.chat.completions.create(
                model="gpt-4o-mini",
                messages=MESSAGES,
                web_search_options={},
            )
    assert refused.value.param == "web_search_options"
    assert gw.control.requests == []


async def test_anthropic_web_fetch_bills_its_tokens(gw: Gateway) -> None:
    t = await tenant(gw, credit=10_000_000)
    gw.control.usage = {
        "input_tokens": 2000,
        "output_tokens": 100,
        "server_tool_use": {"web_search_requests": 1, "web_fetch_requests": 2},
    }
    async with anthropic_client(gw, t.key) as client:
        await client.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=100,
            tools=[
                {"type": "web_search_20250305", "name": "web_search", "max_uses": 2},
                {"type": "web_fetch_20250910", "name": "web_fetch", "max_uses": 2},
            ],
            messages=[{"role": "user", "content": QUESTION}],
        )
    # 2000 x $3 + 100 x $15 per 1M, one search at $10 per 1k; fetches cost their tokens.
    assert [-r["amount_micros"] for r in await debits(gw, t.account_id)] == [6000 + 1500 + 10_000]
