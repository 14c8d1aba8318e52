"""The debit where clients read usage: `usage.cost_micros`, equal to the ledger's debit, in
each answer shape the official SDKs read (issue 32): plain JSON, the Responses API's final
usage, Anthropic's final `message_delta` (a chat stream's usage chunk: test_streaming.py)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from tests.support.factories import anthropic_client, debits, openai_client, tenant
from tests.support.harness import Gateway

CHAT_USAGE = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
CHAT_COST = 450  # gpt-4o-mini: 1000 x $0.15/M + 500 x $0.60/M
RESPONSES_USAGE = {"input_tokens": 1000, "output_tokens": 500, "total_tokens": 1500}
ANTHROPIC_USAGE = {"input_tokens": 1000, "output_tokens": 500}
ANTHROPIC_COST = 3_500  # claude-haiku-4-5: 1000 x $1.00/M + 500 x $5.00/M
MESSAGES: list[Any] = [{"role": "user", "content": "What does this cost?"}]


def cost_of(usage: BaseModel | None) -> object:
    """`cost_micros` as the SDK parsed it: a field its usage model does not declare."""
    assert usage is not None
    return (usage.model_extra or {}).get("cost_micros")


async def debited(gw: Gateway, account_id: str) -> int:
    (row,) = await debits(gw, account_id)
    return -int(row["amount_micros"])


async def test_chat_answer_carries_its_debit(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = CHAT_USAGE
    async with openai_client(gw, t.key) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=MESSAGES, max_tokens=600
        )
    completion = raw.parse()
    assert cost_of(completion.usage) == CHAT_COST == int(raw.headers["x-meterway-cost-micros"])
    assert completion.usage is not None and completion.usage.prompt_tokens == 1000
    assert await debited(gw, t.account_id) == CHAT_COST


async def test_response_carries_its_debit(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = RESPONSES_USAGE
    async with openai_client(gw, t.key) as client:
        response = await client.responses.create(model="gpt-4o-mini", input="Price me")
    assert cost_of(response.usage) == CHAT_COST
    assert await debited(gw, t.account_id) == CHAT_COST


async def test_response_stream_completed_event_carries_its_debit(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = RESPONSES_USAGE
    async with openai_client(gw, t.key) as client:
        stream = await client.responses.create(model="gpt-4o-mini", input="Price me", stream=True)
        events = [e async for e in stream]
    final = events[-1]
    assert final.type == "response.completed"
    assert cost_of(final.response.usage) == CHAT_COST
    assert await debited(gw, t.account_id) == CHAT_COST


async def test_anthropic_message_carries_its_debit(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = ANTHROPIC_USAGE
    async with anthropic_client(gw, t.key) as client:
        raw = await client.messages.with_raw_response.create(
            model="claude-haiku-4-5", max_tokens=600, messages=MESSAGES
        )
    message = await raw.parse()
    assert cost_of(message.usage) == ANTHROPIC_COST
    assert raw.headers["x-meterway-cost-micros"] == str(ANTHROPIC_COST)
    assert await debited(gw, t.account_id) == ANTHROPIC_COST


async def test_anthropic_stream_message_delta_carries_its_debit(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = ANTHROPIC_USAGE
    client = anthropic_client(gw, t.key)
    async with (
        client,
        client.messages.stream(
            model="claude-haiku-4-5", max_tokens=600, messages=MESSAGES
        ) as stream,
    ):
        events = [event async for event in stream]
    deltas = [e for e in events if e.type == "message_delta"]
    assert len(deltas) == 1 and cost_of(deltas[0].usage) == ANTHROPIC_COST
    assert events[-1].type == "message_stop"
    assert await debited(gw, t.account_id) == ANTHROPIC_COST
