"""Output caps: a call naming none is reserved at the model's cap from a named source, or at
DEFAULT_MAX_OUTPUT_TOKENS sent to the provider as an explicit cap; never the context window.

Codex (gpt-6.1-sol) and openai-agents (gpt-5.6-luna) send Responses calls without
`max_output_tokens`; their catalogue context window is 1,050,000 tokens, more than the pro
plan's 1,000,000 tokens a minute, and reserving it as output refused every call."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from billing.metering.usage import Usage
from tests.support.factories import debits, held, openai_client, price, tenant
from tests.support.harness import Gateway, running_gateway

WIDE = "gpt-6.1-sol"  # catalogue context window 1,050,000; output cap known to no source
USAGE = {"input_tokens": 12, "output_tokens": 7, "total_tokens": 19}


def billed(gw: Gateway, model: str, usage: Usage) -> int:
    return price(gw, model).cost_micros(usage)


async def test_a_responses_call_without_a_cap_is_admitted_and_sent_the_default(
    gw: Gateway,
) -> None:
    assert price(gw, WIDE).max_output_tokens == 0  # not the 1,050,000-token context window
    t = await tenant(gw, credit=50_000_000, plan="pro")  # 1,000,000 tokens a minute
    gw.control.usage = USAGE
    async with openai_client(gw, t.key) as client:
        resp = await client.responses.create(model=WIDE, input="say hi")
    assert resp.status == "completed"
    sent = gw.control.last_request
    assert sent.path == "/v1/responses" and sent.body["max_output_tokens"] == 32768
    rows = await debits(gw, t.account_id)
    assert [r["amount_micros"] for r in rows] == [
        -billed(gw, WIDE, Usage(input_tokens=12, output_tokens=7))
    ]
    assert await held(gw, t.account_id) == 0


async def test_a_chat_call_without_a_cap_sends_max_completion_tokens(gw: Gateway) -> None:
    t = await tenant(gw, credit=50_000_000, plan="starter")
    async with openai_client(gw, t.key) as client:
        await client.chat.completions.create(
            model=WIDE, messages=[{"role": "user", "content": "hi"}]
        )
    body = gw.control.last_request.body
    assert body["max_completion_tokens"] == 32768 and "max_tokens" not in body


async def test_a_cap_the_request_names_is_sent_unchanged(gw: Gateway) -> None:
    t = await tenant(gw, credit=50_000_000, plan="pro")
    async with openai_client(gw, t.key) as client:
        await client.responses.create(model=WIDE, input="hi", max_output_tokens=100)
    assert gw.control.last_request.body["max_output_tokens"] == 100


async def test_a_known_cap_is_reserved_and_not_sent(gw: Gateway) -> None:
    """gpt-5.1's cap comes from billing/pricing/output_caps.py; the body is left alone."""
    assert price(gw, "gpt-5.1").max_output_tokens == 128000
    t = await tenant(gw, credit=50_000_000, plan="pro")
    async with openai_client(gw, t.key) as client:
        await client.responses.create(model="gpt-5.1", input="hi")
    assert "max_output_tokens" not in gw.control.last_request.body


@pytest.fixture
async def small_default(dsn: str) -> AsyncIterator[Gateway]:
    async with running_gateway(dsn, DEFAULT_MAX_OUTPUT_TOKENS="500") as gateway:
        yield gateway
        await gateway.settle_all()


async def test_the_default_is_a_setting(small_default: Gateway) -> None:
    gw = small_default
    t = await tenant(gw, credit=50_000_000, plan="pro")
    async with openai_client(gw, t.key) as client:
        await client.responses.create(model=WIDE, input="hi")
    assert gw.control.last_request.body["max_output_tokens"] == 500
