"""The debit in the body wherever a client reads an answer: dall-e-3's images (no usage
object: a top-level `cost_micros`), and the retrieve that settles a background response
(its `usage.cost_micros`, as a create's)."""

from __future__ import annotations

import asyncio

from tests.factories import openai_client, tenant
from tests.harness import Gateway

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
