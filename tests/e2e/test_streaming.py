"""Streamed chat and completions through the official openai SDK, billed exactly."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from openai.types.chat import ChatCompletionMessageParam

from billing.metering.usage import Usage
from tests.support.factories import (
    balance,
    debits,
    eventual_debits,
    held,
    openai_client,
    price,
    tenant,
    usage_stream,
)
from tests.support.harness import COUNTER, Gateway

USAGE = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "Tell me about metering streamed tokens."}
]


async def test_stream_is_billed_from_the_usage_chunk_which_stays_hidden(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = USAGE
    async with openai_client(gw, t.key) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, max_tokens=600, stream=True
        )
        chunks = [chunk async for chunk in stream]
    assert chunks and all(c.usage is None and c.choices for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks).startswith("You said:")
    sent = gw.control.last_request.body
    assert sent["stream_options"] == {"include_usage": True}
    rows = await debits(gw, t.account_id)
    # gpt-4o-mini: 1000 x $0.15/M + 500 x $0.60/M = 150 + 300 = 450 micros.
    assert [r["amount_micros"] for r in rows] == [-450]
    assert rows[0]["usage_source"] == "provider"
    assert (rows[0]["input_tokens"], rows[0]["output_tokens"]) == (1000, 500)
    assert await balance(gw, t.account_id) == 1_000_000 - 450


async def test_usage_chunk_carries_the_debit_when_the_client_asks(gw: Gateway) -> None:
    """The provider's usage chunk passes with `cost_micros` added: the ledger's debit."""
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = USAGE
    async with openai_client(gw, t.key) as client:
        chunks = await usage_stream(client, "gpt-4o-mini", MESSAGES, max_tokens=600)
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.model_dump(exclude_none=True) == {**USAGE, "cost_micros": 450}
    assert all(c.usage is None for c in chunks[:-1])
    assert [r["amount_micros"] for r in await debits(gw, t.account_id)] == [-450]


async def test_stream_without_usage_is_billed_from_counted_tokens(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.omit_usage = True
    async with openai_client(gw, t.key) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    assert all(c.usage is None for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    expected = Usage(
        input_tokens=COUNTER.count_chat_prompt("o200k_base", MESSAGES),
        output_tokens=COUNTER.count_text("o200k_base", text),
        source="counted",
    )
    rows = await debits(gw, t.account_id)
    assert len(rows) == 1 and rows[0]["usage_source"] == "counted"
    assert (rows[0]["input_tokens"], rows[0]["output_tokens"]) == (
        expected.input_tokens,
        expected.output_tokens,
    )
    assert rows[0]["amount_micros"] == -price(gw, "gpt-4o-mini").cost_micros(expected)
    assert await held(gw, t.account_id) == 0


async def test_cached_and_reasoning_tokens_are_priced_at_their_rates(gw: Gateway) -> None:
    t = await tenant(gw, credit=10_000_000)
    gw.control.usage = {
        **USAGE,
        "prompt_tokens_details": {"cached_tokens": 400},
        "completion_tokens_details": {"reasoning_tokens": 300},
    }
    async with openai_client(gw, t.key) as client:
        await client.chat.completions.create(model="o3", messages=MESSAGES, max_tokens=600)
        stream = await client.chat.completions.create(
            model="o3", messages=MESSAGES, max_tokens=600, stream=True
        )
        async for _ in stream:
            pass
    rows = await debits(gw, t.account_id)
    # o3: 600 x $2.00/M + 400 x $0.50/M + 500 (300 of them reasoning) x $8.00/M
    #   = 1200 + 200 + 4000 = 5400 micros, for the plain and the streamed call alike.
    assert [r["amount_micros"] for r in rows] == [-5400, -5400]
    for row in rows:
        assert (row["input_tokens"], row["cached_input_tokens"]) == (600, 400)
        assert (row["output_tokens"], row["reasoning_tokens"]) == (500, 300)


async def test_streamed_legacy_completion_is_billed_and_usage_hidden(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = USAGE
    async with openai_client(gw, t.key) as client:
        stream = await client.completions.create(
            model="gpt-3.5-turbo-instruct", prompt="Say hello", max_tokens=600, stream=True
        )
        chunks = [chunk async for chunk in stream]
        plain = await client.completions.create(
            model="gpt-3.5-turbo-instruct", prompt="Say hello", max_tokens=600
        )
    assert chunks and all(c.usage is None and c.choices for c in chunks)
    assert plain.choices[0].text
    # gpt-3.5-turbo-instruct: 1000 x $1.50/M + 500 x $2.00/M = 1500 + 1000 = 2500 micros.
    assert [r["amount_micros"] for r in await debits(gw, t.account_id)] == [-2500, -2500]


async def test_embeddings_are_billed_from_provider_usage(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = {"prompt_tokens": 1000, "total_tokens": 1000}
    async with openai_client(gw, t.key) as client:
        result = await client.embeddings.create(
            model="text-embedding-3-small", input=["one", "two"]
        )
    assert len(result.data) == 2
    rows = await debits(gw, t.account_id)
    # text-embedding-3-small: 1000 x $0.02/M = 20 micros.
    assert [(r["amount_micros"], r["input_tokens"], r["output_tokens"]) for r in rows] == [
        (-20, 1000, 0)
    ]


async def test_alias_routes_to_the_model_and_its_upstream_name(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = USAGE
    async with openai_client(gw, t.key) as client:
        await client.chat.completions.create(
            model="gpt-4o-mini-2024-07-18", messages=MESSAGES, max_tokens=600
        )
    assert gw.control.last_request.body["model"] == "gpt-4o-mini"
    rows = await debits(gw, t.account_id)
    assert [(r["model"], r["amount_micros"]) for r in rows] == [("gpt-4o-mini", -450)]


async def test_plain_call_whose_client_left_is_billed_in_full(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = USAGE
    gw.control.delay_s = 0.4
    body = {"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": 600}
    headers = {"Authorization": f"Bearer {t.key}"}
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await gw.http.post(gw.url + "/v1/chat/completions", json=body, headers=headers)
    async with asyncio.timeout(5):
        await gw.control.wait_until(lambda c: c.completed >= 1)
        rows = await eventual_debits(gw, t.account_id)
    assert [r["amount_micros"] for r in rows] == [-450]
    assert gw.control.cancelled == 0
    assert await held(gw, t.account_id) == 0


async def test_deepseek_cache_hits_are_priced_at_the_cached_rate(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = {
        **USAGE,
        "prompt_cache_hit_tokens": 400,
        "prompt_cache_miss_tokens": 600,
    }
    async with openai_client(gw, t.key) as client:
        await client.chat.completions.create(
            model="deepseek-chat", messages=MESSAGES, max_tokens=600
        )
    rows = await debits(gw, t.account_id)
    # deepseek-chat at its peak price (00:30-16:30 UTC) or its off-peak one, by the hour the
    # call was admitted: 600 x $0.27/M + 400 cache hits x $0.07/M + 500 x $1.10/M = 740
    # micros, or half that.
    usage = Usage(input_tokens=600, cached_input_tokens=400, output_tokens=500)
    deepseek = price(gw, "deepseek-chat")
    day = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    hours = (int(day.replace(hour=h).timestamp() * 1000) for h in (12, 20))
    costs = {deepseek.cost_micros(usage, at) for at in hours}
    assert costs == {740, 370}
    assert [r["cached_input_tokens"] for r in rows] == [400]
    assert -rows[0]["amount_micros"] in costs


async def test_n_choices_reserve_n_times_the_output(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.delay_s = 0.3
    async with openai_client(gw, t.key) as client:
        call = asyncio.ensure_future(
            client.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, max_tokens=1000, n=3
            )
        )
        async with asyncio.timeout(5):
            await gw.control.wait_until(lambda c: c.hits >= 1)
        reserved = await held(gw, t.account_id)
        await call
    prompt = COUNTER.count_chat_prompt("o200k_base", MESSAGES)
    assert reserved == price(gw, "gpt-4o-mini").worst_case_micros(prompt, 3 * 1000)
    assert len(await debits(gw, t.account_id)) == 1
