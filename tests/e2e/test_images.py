"""Images through the gateway with the official SDK: DALL-E priced per image by size and
quality, GPT image models in tokens from the answer's usage; each debit is the published
price worked out here by hand (dall-e-3 HD 1792x1024 $0.12, dall-e-2 256x256 $0.016,
gpt-image-1 $5 per 1M text input tokens, $40 per 1M image output tokens)."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.support.factories import balance, debits, held, openai_client, tenant
from tests.support.harness import COUNTER, Gateway

PROMPT = "a lighthouse at dusk, oil on canvas"
CREDIT = 10_000_000


def prompt_tokens(text: str = PROMPT) -> int:
    return COUNTER.count_text("o200k_base", text)


async def test_dall_e_3_is_billed_per_image_by_size_and_quality(gw: Gateway) -> None:
    t = await tenant(gw, credit=CREDIT)
    async with openai_client(gw, t.key) as client:
        raw = await client.images.with_raw_response.generate(
            model="dall-e-3", prompt=PROMPT, size="1792x1024", quality="hd"
        )
    assert raw.parse().data is not None and len(raw.parse().data or []) == 1
    assert raw.headers["x-meterway-cost-micros"] == "120000"
    rows = await debits(gw, t.account_id)
    assert [(r["model"], r["amount_micros"]) for r in rows] == [("dall-e-3", -120_000)]
    assert await balance(gw, t.account_id) == CREDIT - 120_000
    assert gw.control.last_request.path == "/v1/images/generations"


async def test_dall_e_2_bills_each_image_of_n(gw: Gateway) -> None:
    t = await tenant(gw, credit=CREDIT)
    async with openai_client(gw, t.key) as client:
        answer = await client.images.generate(model="dall-e-2", prompt=PROMPT, n=3, size="256x256")
    assert len(answer.data or []) == 3
    rows = await debits(gw, t.account_id)
    assert [r["amount_micros"] for r in rows] == [-3 * 16_000]
    path = f"/admin/v1/accounts/{t.account_id}/usage/report?group_by=model"
    _, report = await gw.admin("GET", path)
    assert [(r["model"], r["images"]) for r in report["data"]] == [("dall-e-2", 3)]


async def test_gpt_image_1_is_billed_from_the_answers_usage(gw: Gateway) -> None:
    t = await tenant(gw, credit=CREDIT)
    async with openai_client(gw, t.key) as client:
        answer = await client.images.generate(
            model="gpt-image-1", prompt=PROMPT, quality="high", size="1024x1024"
        )
    assert answer.usage is not None and answer.usage.output_tokens == 4160
    # $5 per 1M text input tokens is 5 micros a token; $40 per 1M output is 40.
    expected = prompt_tokens() * 5 + 4160 * 40
    rows = await debits(gw, t.account_id)
    assert [-r["amount_micros"] for r in rows] == [expected]
    assert (rows[0]["input_tokens"], rows[0]["output_tokens"]) == (prompt_tokens(), 4160)
    assert await balance(gw, t.account_id) == CREDIT - expected


async def test_a_streamed_generation_is_relayed_and_billed_with_its_partial_images(
    gw: Gateway,
) -> None:
    t = await tenant(gw, credit=CREDIT)
    async with openai_client(gw, t.key) as client:
        stream = await client.images.generate(
            model="gpt-image-1", prompt=PROMPT, stream=True, partial_images=2
        )
        events = [event async for event in stream]
    assert [e.type for e in events] == [
        "image_generation.partial_image",
        "image_generation.partial_image",
        "image_generation.completed",
    ]
    # auto quality and size: the demo makes a 1024x1024 medium image (1056 tokens), and each
    # partial image costs 100 output tokens more.
    output = 1056 + 2 * 100
    expected = prompt_tokens() * 5 + output * 40
    completed = events[-1].model_dump()
    assert completed["usage"]["cost_micros"] == expected
    rows = await debits(gw, t.account_id)
    assert [-r["amount_micros"] for r in rows] == [expected]
    assert await held(gw, t.account_id) == 0


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"model": "dall-e-3", "size": "256x256"}, "size"),
        ({"model": "dall-e-3", "quality": "ultra"}, "quality"),
        ({"model": "dall-e-3", "n": 2}, "n"),
        ({"model": "dall-e-2", "n": 11}, "n"),
        ({"model": "gpt-image-1", "size": "4096x4096"}, "size"),
    ],
)
async def test_an_unknown_size_or_quality_or_too_many_images_is_refused_by_name(
    gw: Gateway, fields: dict[str, Any], param: str
) -> None:
    t = await tenant(gw, credit=CREDIT)
    async with openai_client(gw, t.key) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.images.generate(prompt=PROMPT, **fields)
    assert caught.value.param == param
    assert gw.control.requests == []
    assert await debits(gw, t.account_id) == []
    assert await balance(gw, t.account_id) == CREDIT


async def test_a_key_without_the_images_scope_is_refused(gw: Gateway) -> None:
    t = await tenant(gw, scopes=["chat"])
    async with openai_client(gw, t.key) as client:
        with pytest.raises(openai.PermissionDeniedError, match="'images' scope"):
            await client.images.generate(model="dall-e-3", prompt=PROMPT)
    assert gw.control.requests == []
