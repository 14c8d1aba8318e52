"""Gemini's catalogue models on Google's own routes once a Google key is set: google-genai and
Gemini CLI name `gemini-2.5-flash` as Google does, and the gateway sends it to the Gemini API
(the `gemini` provider it makes beside Google's OpenAI-compatible one), billed from
`usageMetadata`. Before, the shipped pricing.toml gave the name to the OpenAI-format
provider and the native route answered 404."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from google import genai
from google.genai import types

from billing.metering.usage import Usage
from tests.support.factories import debits, openai_client, price, tenant
from tests.support.harness import Gateway, running_gateway

USAGE = {"promptTokenCount": 40, "candidatesTokenCount": 9, "totalTokenCount": 49}


@pytest.fixture
async def google(dsn: str) -> AsyncIterator[Gateway]:
    async with running_gateway(dsn, GOOGLE_API_KEY="g-key") as gateway:
        yield gateway
        await gateway.settle_all()


def client(gw: Gateway, key: str) -> genai.Client:
    return genai.Client(api_key=key, http_options=types.HttpOptions(base_url=gw.url))


async def test_a_google_model_id_reaches_the_gemini_api(google: Gateway) -> None:
    gw = google
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = USAGE
    answer = await client(gw, t.key).aio.models.generate_content(
        model="gemini-2.5-flash", contents="say hi"
    )
    assert answer.text
    sent = gw.control.last_request
    assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent.headers["x-goog-api-key"] == "g-key"
    cost = price(gw, "gemini/gemini-2.5-flash").cost_micros(Usage(input_tokens=40, output_tokens=9))
    rows = await debits(gw, t.account_id)
    assert [(r["amount_micros"], r["provider"]) for r in rows] == [(-cost, "gemini")]


async def test_streams_and_counts_reach_it_too(google: Gateway) -> None:
    gw = google
    t = await tenant(gw, credit=1_000_000)
    gw.control.usage = USAGE
    models = client(gw, t.key).aio.models
    chunks = [
        c
        async for c in await models.generate_content_stream(model="gemini-2.5-flash", contents="hi")
    ]
    assert chunks
    counted = await models.count_tokens(model="gemini-2.5-flash", contents="hi")
    assert counted.total_tokens is not None
    assert {r.path.split(":")[-1] for r in gw.control.requests} == {
        "streamGenerateContent",
        "countTokens",
    }


async def test_the_openai_wire_keeps_the_name_for_chat(google: Gateway) -> None:
    gw = google
    t = await tenant(gw, credit=1_000_000)
    async with openai_client(gw, t.key) as oa:
        await oa.chat.completions.create(
            model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}]
        )
    assert gw.control.last_request.path == "/v1/chat/completions"


async def test_without_a_google_key_the_native_route_does_not_serve_it(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000)
    async with gw.http.post(
        f"{gw.url}/v1beta/models/gemini-2.5-flash:generateContent",
        json={"contents": [{"parts": [{"text": "hi"}]}]},
        headers={"x-goog-api-key": t.key},
    ) as resp:
        assert resp.status == 404
