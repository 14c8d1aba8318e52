"""Moderations through the gateway with the official SDK: authenticated, scoped, counted in
request windows, free unless the price table prices the model."""

from __future__ import annotations

import openai
import pytest

from tests.support.factories import balance, debits, openai_client, tenant
from tests.support.harness import Gateway


async def test_a_moderation_is_answered_and_costs_nothing(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    async with openai_client(gw, t.key) as client:
        raw = await client.moderations.with_raw_response.create(
            model="omni-moderation-latest", input=["I will kill the process", "hello"]
        )
    answer = raw.parse()
    assert [r.flagged for r in answer.results] == [True, False]
    assert raw.headers["x-meterway-cost-micros"] == "0"
    rows = await debits(gw, t.account_id)
    # Recorded under the catalogue model the name matched.
    assert [(r["model"], r["amount_micros"]) for r in rows] == [("moderation", 0)]
    assert rows[0]["input_tokens"] > 0  # counted, for token windows
    assert await balance(gw, t.account_id) == 1_000_000
    assert gw.control.last_request.path == "/v1/moderations"


async def test_a_key_without_the_moderations_scope_is_refused(gw: Gateway) -> None:
    t = await tenant(gw, scopes=["chat"])
    async with openai_client(gw, t.key) as client:
        with pytest.raises(openai.PermissionDeniedError, match="'moderations' scope"):
            await client.moderations.create(model="omni-moderation-latest", input="hi")
    assert gw.control.requests == []


async def test_moderations_count_in_request_windows(gw: Gateway) -> None:
    t = await tenant(gw, quotas=[{"window": "minute", "metric": "requests", "limit": 1}])
    async with openai_client(gw, t.key) as client:
        await client.moderations.create(model="omni-moderation-latest", input="hi")
        with pytest.raises(openai.RateLimitError):
            await client.moderations.create(model="omni-moderation-latest", input="hi")
    assert len(gw.control.requests) == 1


async def test_a_chat_model_is_not_served_on_moderations(gw: Gateway) -> None:
    t = await tenant(gw)
    async with openai_client(gw, t.key) as client:
        with pytest.raises(openai.NotFoundError, match="not served on this endpoint"):
            await client.moderations.create(model="gpt-4o-mini", input="hi")


async def test_a_moderation_without_a_model_is_the_providers_default(gw: Gateway) -> None:
    """OpenAI answers a moderation naming no model with omni-moderation-latest; so does the
    gateway, which prices and forwards that name rather than refuse the call."""
    t = await tenant(gw, credit=1_000_000)
    async with openai_client(gw, t.key) as client:
        answer = await client.moderations.create(input="hello")
    assert [r.flagged for r in answer.results] == [False]
    assert gw.control.last_request.body["model"] == "omni-moderation-latest"
    rows = await debits(gw, t.account_id)
    assert [(r["model"], r["amount_micros"]) for r in rows] == [("moderation", 0)]
