"""The debit in the body wherever a client reads an answer: dall-e-3's images (no usage
object: a top-level `cost_micros`), and the retrieve that settles a background response
(its `usage.cost_micros`, as a create's)."""

from __future__ import annotations

import asyncio

from google import genai
from google.genai import types

from tests.factories import anthropic_client, debits, openai_client, tenant
from tests.harness import Gateway, running_gateway

USAGE = {"input_tokens": 1200, "output_tokens": 300, "total_tokens": 1500}


async def test_a_dall_e_3_answer_carries_its_cost(gw: Gateway) -> None:
    t = await tenant(gw, credit=10_000_000)
    async with openai_client(gw, t.key) as client:
        image = await client.images.generate(
            model="dall-e-3", prompt="a lighthouse", size="1792x1024", quality="hd"
        )
    assert image.model_extra is not None and image.model_extra["cost_micros"] == 120_000


async def test_the_retrieve_that_settles_a_background_response_carries_its_cost(
    gw: Gateway,
) -> None:
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = USAGE
    gw.control.background_s = 0.2
    async with openai_client(gw, t.key) as client:
        created = await client.responses.create(
            model="gpt-4o-mini", input="later", background=True, max_output_tokens=500
        )
        done = await client.responses.retrieve(created.id)
        while done.status != "completed":
            await asyncio.sleep(0.1)
            done = await client.responses.retrieve(created.id)
    # gpt-4o-mini: 1200 x 0.15 + 300 x 0.60 = 180 + 180 micros
    assert done.usage is not None and done.usage.model_extra == {"cost_micros": 360}


async def test_an_anthropic_stream_carries_its_cost_on_message_delta(gw: Gateway) -> None:
    """The SDK's accumulated final message drops fields it does not know; the
    `message_delta` event a client iterates over keeps it (docs/guides/clients.md)."""
    t = await tenant(gw, credit=1_000_000)
    cost = None
    async with (
        anthropic_client(gw, t.key) as claude,
        claude.messages.stream(
            model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        ) as stream,
    ):
        async for event in stream:
            if event.type == "message_delta":
                cost = (event.usage.model_extra or {}).get("cost_micros")
    rows = await debits(gw, t.account_id)
    assert cost is not None and [-r["amount_micros"] for r in rows] == [cost]


async def test_a_google_genai_answer_carries_its_cost_in_the_sdks_http_response(
    gw: Gateway,
) -> None:
    """google-genai drops fields it does not know from `usage_metadata`; it keeps the
    answer's headers (docs/guides/clients.md)."""
    async with running_gateway(gw.settings.database_url, GOOGLE_API_KEY="g-key") as google:
        t = await tenant(google, credit=1_000_000)
        client = genai.Client(api_key=t.key, http_options=types.HttpOptions(base_url=google.url))
        answer = await client.aio.models.generate_content(model="gemini-2.5-flash", contents="hi")
        rows = await debits(google, t.account_id)
        await google.settle_all()
    assert answer.sdk_http_response is not None and answer.sdk_http_response.headers
    cost = answer.sdk_http_response.headers["x-meterway-cost-micros"]
    assert [-r["amount_micros"] for r in rows] == [int(cost)]
