"""The Responses API through the official openai SDK: plain, streamed, background, billed
exactly from the provider's usage (cached and reasoning tokens, tool runs, service tier)."""

from __future__ import annotations

import asyncio

import openai
import pytest

from billing.metering.usage import Usage
from tests.support.factories import (
    balance,
    debits,
    eventual_debits,
    held,
    openai_client,
    price,
    tenant,
)
from tests.support.harness import COUNTER, Gateway

USAGE = {
    "input_tokens": 1200,
    "input_tokens_details": {"cached_tokens": 1000},
    "output_tokens": 300,
    "output_tokens_details": {"reasoning_tokens": 120},
    "total_tokens": 1500,
}
# gpt-4o-mini: 200 x 0.15 + 1000 x 0.075 + 300 x 0.60 = 30 + 75 + 180 = 285 micros.
USAGE_COST = 285
SEARCH_FEE = 10_000  # config/pricing.toml [tools] web_search_call = "0.01"


async def test_plain_response_is_debited_from_usage_with_cache_reasoning_and_searches(
    gw: Gateway,
) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = USAGE
    gw.control.web_searches = 2
    async with openai_client(gw, t.key) as client:
        resp = await client.responses.create(
            model="gpt-4o-mini",
            input="What is metering?",
            instructions="Be brief.",
            tools=[{"type": "web_search"}],
        )
    assert resp.status == "completed" and resp.output_text.startswith("You said: What is")
    assert resp.usage is not None and resp.usage.output_tokens_details.reasoning_tokens == 120
    rows = await debits(gw, t.account_id)
    assert [r["amount_micros"] for r in rows] == [-(USAGE_COST + 2 * SEARCH_FEE)]
    row = rows[0]
    assert (row["input_tokens"], row["cached_input_tokens"]) == (200, 1000)
    assert (row["output_tokens"], row["reasoning_tokens"]) == (300, 120)
    assert await held(gw, t.account_id) == 0
    assert gw.control.last_request.path == "/v1/responses"


async def test_streamed_response_is_debited_from_the_completed_event(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = USAGE
    gw.control.web_searches = 1
    async with openai_client(gw, t.key) as client:
        stream = await client.responses.create(
            model="gpt-4o-mini", input="Stream me please", stream=True
        )
        events = [e async for e in stream]
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "response.web_search_call.completed" in kinds
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text.startswith("You said: Stream me please")
    rows = await debits(gw, t.account_id)
    assert [r["amount_micros"] for r in rows] == [-(USAGE_COST + SEARCH_FEE)]
    assert rows[0]["usage_source"] == "provider"


async def test_a_search_that_ran_is_billed_even_when_the_stream_is_cut(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = USAGE
    gw.control.web_searches = 1
    gw.control.fail_after_chunks = 0  # cut before the message's first text delta
    gw.control.fail_mode = "disconnect"
    async with openai_client(gw, t.key) as client:
        stream = await client.responses.create(model="gpt-4o-mini", input="hi", stream=True)
        events = [e async for e in stream]
    assert events[-1].type == "error"  # the gateway's own well-formed ending
    rows = await debits(gw, t.account_id)
    # The search ran (its output_item.done arrived), no text was delivered, no usage came.
    p = price(gw, "gpt-4o-mini")
    counted = rows[0]["input_tokens"]
    assert [r["amount_micros"] for r in rows] == [-(p.cost_micros(Usage(counted)) + SEARCH_FEE)]
    assert rows[0]["usage_source"] == "counted" and rows[0]["output_tokens"] == 0


async def test_cut_stream_is_billed_for_what_was_delivered(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.reply_text = "one two three four five six seven eight nine ten"
    gw.control.chunks = 5
    gw.control.fail_after_chunks = 2
    gw.control.fail_mode = "error_event"
    async with openai_client(gw, t.key) as client:
        stream = await client.responses.create(model="gpt-4o-mini", input="count", stream=True)
        events = [e async for e in stream]
    assert events[-1].type == "error"
    delivered = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert delivered and delivered != gw.control.reply_text
    rows = await debits(gw, t.account_id)
    assert rows[0]["output_tokens"] == COUNTER.count_text("o200k_base", delivered)
    assert rows[0]["usage_source"] == "counted"
    assert await held(gw, t.account_id) == 0


async def test_service_tier_is_billed_as_reported(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = USAGE
    gw.control.service_tier = "priority"
    async with openai_client(gw, t.key) as client:
        resp = await client.responses.create(
            model="gpt-4o-mini", input="fast please", service_tier="priority"
        )
    assert resp.service_tier == "priority"
    # priority: 200 x 0.25 + 1000 x 0.125 + 300 x 1.00 = 50 + 125 + 300 = 475 micros.
    assert [r["amount_micros"] for r in await debits(gw, t.account_id)] == [-475]


async def test_background_response_settles_when_retrieved_finished(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = USAGE
    gw.control.background_s = 0.3
    async with openai_client(gw, t.key) as client:
        created = await client.responses.create(
            model="gpt-4o-mini", input="later", background=True, max_output_tokens=500
        )
        assert created.status == "queued"
        assert await held(gw, t.account_id) > 0
        assert await debits(gw, t.account_id) == []
        first = await client.responses.retrieve(created.id)
        while first.status != "completed":
            await asyncio.sleep(0.1)
            first = await client.responses.retrieve(created.id)
        again = await client.responses.retrieve(created.id)
    assert again.status == "completed"
    assert [r["amount_micros"] for r in await debits(gw, t.account_id)] == [-USAGE_COST]
    assert await held(gw, t.account_id) == 0
    assert await balance(gw, t.account_id) == 1_000_000 - USAGE_COST


async def test_background_response_cancelled_is_billed_its_input(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = USAGE
    gw.control.background_s = 60
    async with openai_client(gw, t.key) as client:
        created = await client.responses.create(
            model="gpt-4o-mini", input="never mind", background=True
        )
        cancelled = await client.responses.cancel(created.id)
    assert cancelled.status == "cancelled"
    # 200 uncached x 0.15 + 1000 cached x 0.075 = 30 + 75 = 105 micros, no output.
    assert [r["amount_micros"] for r in await debits(gw, t.account_id)] == [-105]
    assert await held(gw, t.account_id) == 0


async def test_background_response_nobody_retrieves_is_settled_by_the_gateway(
    gw: Gateway,
) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = USAGE
    async with openai_client(gw, t.key) as client:
        await client.responses.create(model="gpt-4o-mini", input="fire and forget", background=True)
    async with asyncio.timeout(20):
        rows = await eventual_debits(gw, t.account_id)
    assert [r["amount_micros"] for r in rows] == [-USAGE_COST]
    assert await held(gw, t.account_id) == 0


async def test_only_the_creating_key_reaches_a_response(gw: Gateway) -> None:
    owner = await tenant(gw, credit=1_000_000)
    other = await tenant(gw, credit=1_000_000)
    async with openai_client(gw, owner.key) as client:
        resp = await client.responses.create(model="gpt-4o-mini", input="mine")
        items = await client.responses.input_items.list(resp.id)
        assert [i.content[0].text for i in items.data] == ["mine"]  # type: ignore[union-attr, index]
    async with openai_client(gw, other.key) as client:
        for attempt in (
            client.responses.retrieve(resp.id),
            client.responses.cancel(resp.id),
            client.responses.input_items.list(resp.id),
            client.responses.delete(resp.id),
        ):
            with pytest.raises(openai.NotFoundError):
                await attempt
    async with openai_client(gw, owner.key) as client:
        await client.responses.delete(resp.id)
        with pytest.raises(openai.NotFoundError):
            await client.responses.retrieve(resp.id)
    assert [r["amount_micros"] for r in await debits(gw, owner.account_id)] != []
    assert await debits(gw, other.account_id) == []


async def test_a_background_response_that_over_reports_is_debited_at_most_its_cap(
    gw: Gateway,
) -> None:
    """A background response held 63 micros and was debited 30,003 when its provider
    reported 50,000 output tokens on a max_output_tokens of 100: the late settlement had
    no charge cap. It is capped as the same answer in the foreground is."""
    lie = {"input_tokens": 10, "output_tokens": 50_000, "total_tokens": 50_010}
    answers = []
    for background in (False, True):
        t = await tenant(gw, credit=30_003)
        gw.control.usage = lie
        gw.control.background_s = 0.2
        async with openai_client(gw, t.key) as client:
            created = await client.responses.create(
                model="gpt-4o-mini", input="hi", max_output_tokens=100, background=background
            )
            while created.status not in ("completed", "failed", "cancelled", "incomplete"):
                await asyncio.sleep(0.1)
                created = await client.responses.retrieve(created.id)
        [row] = await eventual_debits(gw, t.account_id)
        answers.append(-row["amount_micros"])
    foreground, late = answers
    assert late == foreground < 30_000, answers  # 50,000 tokens at $0.60/M would be 30,000
