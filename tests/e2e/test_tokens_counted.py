"""Providers that report no usage: the gateway bills what tiktoken counts, and says so."""

from __future__ import annotations

import re
from typing import Any

from billing.metering.tokens import TokenCounter
from billing.metering.usage import Usage
from gateway.http.appkeys import PRICING
from tests.support.factories import ledger, openai_client, tenant
from tests.support.harness import ADMIN_KEY, COUNTER, Gateway

MESSAGES: list[Any] = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Count these tokens for me, exactly as tiktoken would."},
]


async def only_debit(gw: Gateway, account_id: str) -> dict[str, Any]:
    await gw.settle_all()
    rows = [r for r in await ledger(gw, account_id) if r["kind"] == "debit"]
    assert len(rows) == 1
    return rows[0]


async def kept_hits(gw: Gateway) -> float:
    """meterway_token_counts_kept_total{result="hit"} in a scrape (0 before the first)."""
    operator = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with gw.http.get(gw.url + "/metrics", headers=operator) as r:
        text = await r.text()
    found = re.search(r'^meterway_token_counts_kept_total\{result="hit"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def cost(gw: Gateway, model: str, usage: Usage) -> int:
    price = gw.app[PRICING].lookup(model)
    assert price is not None
    return price.cost_micros(usage)


async def test_plain_chat_without_usage_is_counted(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.omit_usage = True
    async with openai_client(gw, t.key) as client:
        reply = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert reply.usage is None
    text = reply.choices[0].message.content or ""
    expected = Usage(
        input_tokens=COUNTER.count_chat_prompt("o200k_base", MESSAGES),
        output_tokens=COUNTER.count_text("o200k_base", text),
        source="counted",
    )
    row = await only_debit(gw, t.account_id)
    assert (row["input_tokens"], row["output_tokens"], row["usage_source"]) == (
        expected.input_tokens,
        expected.output_tokens,
        "counted",
    )
    assert row["amount_micros"] == -cost(gw, "gpt-4o", expected)


async def test_streamed_chat_ignoring_include_usage_is_counted(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.ignore_usage_request = True
    gw.control.chunks = 7
    async with openai_client(gw, t.key) as client:
        stream = await client.chat.completions.create(
            model="gpt-3.5-turbo", messages=MESSAGES, stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    expected = Usage(
        input_tokens=COUNTER.count_chat_prompt("cl100k_base", MESSAGES),
        output_tokens=COUNTER.count_text("cl100k_base", text),
        source="counted",
    )
    row = await only_debit(gw, t.account_id)
    assert (row["input_tokens"], row["output_tokens"], row["usage_source"]) == (
        expected.input_tokens,
        expected.output_tokens,
        "counted",
    )
    assert row["amount_micros"] == -cost(gw, "gpt-3.5-turbo", expected)


async def test_streamed_legacy_completion_without_usage_is_counted(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.omit_usage = True
    prompt = "Once upon a time, in a metered land"
    async with openai_client(gw, t.key) as client:
        stream = await client.completions.create(
            model="gpt-3.5-turbo-instruct", prompt=prompt, max_tokens=200, stream=True
        )
        text = "".join([c.choices[0].text async for c in stream if c.choices])
    expected = Usage(
        input_tokens=COUNTER.count_text("cl100k_base", prompt),
        output_tokens=COUNTER.count_text("cl100k_base", text),
        source="counted",
    )
    row = await only_debit(gw, t.account_id)
    assert (row["input_tokens"], row["output_tokens"], row["usage_source"]) == (
        expected.input_tokens,
        expected.output_tokens,
        "counted",
    )
    assert row["amount_micros"] == -cost(gw, "gpt-3.5-turbo-instruct", expected)


async def test_a_conversations_repeated_turns_are_counted_once_and_billed_exactly(
    gw: Gateway,
) -> None:
    """The second turn resends the first: its long texts come from the account's kept counts
    (CountCache), and what is billed is what tokenizing them again would give."""
    t = await tenant(gw, credit=10_000_000)
    gw.control.omit_usage = True
    system = {"role": "system", "content": "Answer as a careful ledger clerk would. " * 30}
    first: list[Any] = [system, {"role": "user", "content": "Which invoices are open? " * 20}]
    hits, scraped = COUNTER.cache.hits, await kept_hits(gw)
    async with openai_client(gw, t.key) as client:
        reply = await client.chat.completions.create(model="gpt-4o", messages=first)
        answer = reply.choices[0].message.content or ""
        second = [
            *first,
            {"role": "assistant", "content": answer},
            {"role": "user", "content": "And paid?"},
        ]
        again = await client.chat.completions.create(model="gpt-4o", messages=second)
    assert COUNTER.cache.hits >= hits + 2  # the system prompt and the first question
    assert await kept_hits(gw) - scraped == COUNTER.cache.hits - hits  # as of this scrape
    await gw.settle_all()
    rows = sorted(
        (r for r in await ledger(gw, t.account_id) if r["kind"] == "debit"),
        key=lambda r: r["id"],
    )
    uncached = TokenCounter()
    assert [r["input_tokens"] for r in rows] == [
        uncached.count_chat_prompt("o200k_base", first),
        uncached.count_chat_prompt("o200k_base", second),
    ]
    assert rows[1]["output_tokens"] == uncached.count_text(
        "o200k_base", again.choices[0].message.content or ""
    )
