"""Google's own wire through the official google-genai SDK by base URL: generateContent,
streamGenerateContent (SSE) and countTokens on a Gemini API provider and a Vertex AI one,
each debit exact for `usageMetadata`'s fields (prompt less cached at the input rate, cached
at the cache-read rate, tool-use prompt as input, candidates and thoughts as output), the
long-context tier above 200k prompt tokens included."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import openai
import pytest
from google import genai
from google.genai import errors, types
from openai.types.chat import ChatCompletionMessageParam

from gateway.devtools.demo_upstream import RunningUpstream, UpstreamControl
from tests.support.factories import (
    GEMINI_PRO_PRICING,
    anthropic_client,
    debits,
    openai_client,
    tenant,
    usage_stream,
)
from tests.support.harness import Gateway, gateway_with_providers
from tests.support.invariants import check_invariants

PRICING = (
    GEMINI_PRO_PRICING
    + """
[models."gemini-image"]
provider = "gemini"
upstream = "gemini-2.5-flash-image"
catalogue = "gemini-2.5-flash-image"

[models."claude-vertex"]
provider = "vertex-claude"
upstream = "claude-haiku-4-5@20251001"
catalogue = "claude-haiku-4-5"

[models."gemini-flash-eu"]
provider = "vertex-eu"
upstream = "gemini-2.5-flash"
catalogue = "gemini-2.5-flash"
"""
)
VERTEX_ROOT = "/v1/projects/acme/locations/europe-west4/publishers/google"
CLAUDE_ROOT = "/v1/projects/acme/locations/us-east5/publishers/anthropic"
PROMPT = "hello world " * 600  # ~1,200 tokens counted: the reported 1,050 input fit it
USAGE = {
    "promptTokenCount": 1000,
    "cachedContentTokenCount": 200,
    "toolUsePromptTokenCount": 50,
    "candidatesTokenCount": 300,
    "thoughtsTokenCount": 100,
    "totalTokenCount": 1450,
}
# gemini-2.5-pro up to 200k prompt tokens, per 1M: input $1.25, cache read $0.125, output $10.
# (1000 - 200 + 50) x 1.25 + 200 x 0.125 + (300 + 100) x 10 = 1062.5 + 25 + 4000, rounded up.
PRO_COST = 5088
CONFIG = types.GenerateContentConfig(max_output_tokens=600)
PROVIDERS = (
    '[providers.gemini]\nwire = "gemini"\nbase_url = "{url}/v1beta"\napi_key = "g-key"\n'
    f'[providers.vertex-eu]\nwire = "vertex"\nbase_url = "{{url}}{VERTEX_ROOT}"\n'
    'api_key = "ya29.token"\n'
    '[providers.vertex-claude]\nwire = "vertex-anthropic"\n'
    f'base_url = "{{url}}{CLAUDE_ROOT}"\napi_key = "ya29.claude"\n'
)


@dataclass
class Google:
    gw: Gateway
    fake: RunningUpstream


@pytest.fixture(scope="module")
async def google(dsn: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Google]:
    tmp_path = tmp_path_factory.mktemp("gemini")
    async with gateway_with_providers(dsn, tmp_path, PRICING, PROVIDERS) as started:
        yield Google(*started)


@pytest.fixture
def fake(google: Google) -> UpstreamControl:
    control = google.fake.control
    control.reset()
    control.usage = USAGE
    return control


def _client(gw: Gateway, key: str) -> genai.Client:
    return genai.Client(api_key=key, http_options=types.HttpOptions(base_url=gw.url))


async def test_generate_content_is_billed_per_usage_metadata_field(
    google: Google, fake: UpstreamControl
) -> None:
    gw = google.gw
    t = await tenant(gw, credit=1_000_000)
    answer = await _client(gw, t.key).aio.models.generate_content(
        model="gemini-pro", contents=PROMPT, config=CONFIG
    )
    assert answer.text and answer.usage_metadata is not None
    assert answer.usage_metadata.thoughts_token_count == 100
    async with gw.http.post(
        f"{gw.url}/v1beta/models/gemini-pro:generateContent",
        json={"contents": [{"parts": [{"text": PROMPT}]}]},
        headers={"x-goog-api-key": t.key},
    ) as resp:
        raw = await resp.json()
    assert raw["usageMetadata"]["cost_micros"] == PRO_COST  # the debit where usage is read
    sent = fake.requests[0]
    assert sent.path == "/v1beta/models/gemini-2.5-pro:generateContent"
    assert sent.headers["x-goog-api-key"] == "g-key" and "model" not in sent.body
    assert sent.body["generationConfig"]["maxOutputTokens"] == 600
    rows = await debits(gw, t.account_id)
    assert [(r["amount_micros"], r["provider"]) for r in rows] == [(-PRO_COST, "gemini")] * 2
    row = rows[0]
    assert (row["input_tokens"], row["cached_input_tokens"]) == (850, 200)
    assert (row["output_tokens"], row["reasoning_tokens"]) == (400, 100)
    await check_invariants(gw.stores(), [t.account_id])


async def test_a_prompt_over_200k_tokens_is_billed_at_the_long_context_rates(
    google: Google, fake: UpstreamControl
) -> None:
    gw = google.gw
    t = await tenant(gw, credit=10_000_000)
    fake.usage = {"promptTokenCount": 250_000, "candidatesTokenCount": 500}
    long_prompt = "hello world " * 32_000  # ~64,000 tokens counted, x4 + slack > 250,000
    await _client(gw, t.key).aio.models.generate_content(
        model="gemini-pro", contents=long_prompt, config=CONFIG
    )
    # Above 200k prompt tokens, per 1M: input $2.50, output $15.
    # 250,000 x 2.50 + 500 x 15 = 625,000 + 7,500 micros.
    assert [r["amount_micros"] for r in await debits(gw, t.account_id)] == [-632_500]
    await check_invariants(gw.stores(), [t.account_id])


async def test_stream_generate_content_is_billed_from_its_last_event(
    google: Google, fake: UpstreamControl
) -> None:
    gw = google.gw
    t = await tenant(gw, credit=1_000_000)
    stream = await _client(gw, t.key).aio.models.generate_content_stream(
        model="gemini-pro", contents=PROMPT, config=CONFIG
    )
    chunks = [chunk async for chunk in stream]
    assert len(chunks) == 3 and "".join(c.text or "" for c in chunks)
    assert chunks[-1].usage_metadata is not None
    assert chunks[-1].usage_metadata.candidates_token_count == 300
    [sent] = fake.requests
    assert (sent.path, sent.query) == (
        "/v1beta/models/gemini-2.5-pro:streamGenerateContent", "alt=sse"
    )  # fmt: skip
    assert [r["amount_micros"] for r in await debits(gw, t.account_id)] == [-PRO_COST]
    await check_invariants(gw.stores(), [t.account_id])


async def test_count_tokens_is_the_providers_and_not_billed(
    google: Google, fake: UpstreamControl
) -> None:
    gw = google.gw
    t = await tenant(gw, credit=1_000_000)
    counted = await _client(gw, t.key).aio.models.count_tokens(
        model="gemini-pro", contents="how many tokens is this"
    )
    assert counted.total_tokens == 5  # the fake counts words
    [sent] = fake.requests
    assert sent.path == "/v1beta/models/gemini-2.5-pro:countTokens"
    assert await debits(gw, t.account_id) == []


async def test_a_vertex_model_goes_to_its_project_with_a_bearer_token(
    google: Google, fake: UpstreamControl
) -> None:
    gw = google.gw
    t = await tenant(gw, credit=1_000_000)
    fake.usage = {"promptTokenCount": 1000, "candidatesTokenCount": 500}
    await _client(gw, t.key).aio.models.generate_content(
        model="gemini-flash-eu", contents=PROMPT, config=CONFIG
    )
    [sent] = fake.requests
    assert sent.path == f"{VERTEX_ROOT}/models/gemini-2.5-flash:generateContent"
    assert sent.headers["authorization"] == "Bearer ya29.token"
    # gemini-2.5-flash per 1M: input $0.30, output $2.50: 300 + 1,250 micros.
    rows = await debits(gw, t.account_id)
    assert [(r["amount_micros"], r["provider"]) for r in rows] == [(-1550, "vertex-eu")]


async def test_a_model_of_another_wire_is_refused_by_name(
    google: Google, fake: UpstreamControl
) -> None:
    t = await tenant(google.gw, credit=1_000_000)
    with pytest.raises(errors.ClientError) as caught:
        await _client(google.gw, t.key).aio.models.generate_content(
            model="gpt-4o-mini", contents="hi", config=CONFIG
        )
    assert caught.value.code == 404 and "'gpt-4o-mini'" in str(caught.value)
    assert fake.requests == []


async def test_openai_clients_reach_gemini_models_translated(
    google: Google, fake: UpstreamControl
) -> None:
    gw = google.gw
    t = await tenant(gw, credit=1_000_000)
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": PROMPT},
    ]
    async with openai_client(gw, t.key) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="gemini-pro", messages=messages, max_tokens=600, temperature=0.2
        )
        chunks = await usage_stream(client, "gemini-flash-eu", messages, max_tokens=600)
    answer = raw.parse()
    assert answer.choices[0].message.content and answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (1050, 400)
    assert raw.headers["x-meterway-cost-micros"] == str(PRO_COST)
    assert (answer.usage.model_extra or {})["cost_micros"] == PRO_COST
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 400
    plain, streamed = fake.requests
    assert plain.path == "/v1beta/models/gemini-2.5-pro:generateContent"
    assert plain.body == {
        "contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
        "generationConfig": {"maxOutputTokens": 600, "temperature": 0.2},
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
    }
    assert streamed.path == f"{VERTEX_ROOT}/models/gemini-2.5-flash:streamGenerateContent"
    assert streamed.query == "alt=sse"
    # gemini-2.5-flash per 1M: (1000 - 200 + 50) x $0.30 + 200 x $0.03 + 400 x $2.50
    # = 255 + 6 + 1000 micros.
    rows = await debits(gw, t.account_id)
    assert sorted((r["amount_micros"], r["provider"]) for r in rows) == [
        (-PRO_COST, "gemini"),
        (-1261, "vertex-eu"),
    ]
    await check_invariants(gw.stores(), [t.account_id])


async def test_what_does_not_translate_is_refused_by_name(
    google: Google, fake: UpstreamControl
) -> None:
    t = await tenant(google.gw, credit=1_000_000)
    async with openai_client(google.gw, t.key) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(
                model="gemini-pro", messages=[{"role": "user", "content": "hi"}], logprobs=True
            )
    assert "'logprobs' is not translated" in caught.value.message
    assert caught.value.param == "logprobs"
    assert fake.requests == []


async def test_anthropic_clients_reach_claude_on_vertex_by_raw_predict(
    google: Google, fake: UpstreamControl
) -> None:
    gw = google.gw
    t = await tenant(gw, credit=1_000_000)
    fake.usage = {"input_tokens": 1000, "output_tokens": 500, "cache_read_input_tokens": 200}
    async with anthropic_client(gw, t.key) as client:
        raw = await client.messages.with_raw_response.create(
            model="claude-vertex", max_tokens=600, messages=[{"role": "user", "content": "hi"}]
        )
        stream = await client.messages.create(
            model="claude-vertex",
            max_tokens=600,
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
        )
        events = [event async for event in stream]
    assert (await raw.parse()).content and events[-1].type == "message_stop"
    # claude-haiku-4-5 on Vertex per 1M: input $1, cache read $0.10, output $5:
    # 1000 + 20 + 2500 micros.
    assert raw.headers["x-meterway-cost-micros"] == "3520"
    plain, streamed = fake.requests
    root = "/v1/projects/acme/locations/us-east5/publishers/anthropic/models"
    assert plain.path == f"{root}/claude-haiku-4-5@20251001:rawPredict"
    assert streamed.path == f"{root}/claude-haiku-4-5@20251001:streamRawPredict"
    assert plain.body == {
        "max_tokens": 600,
        "messages": [{"role": "user", "content": "hi"}],
        "anthropic_version": "vertex-2023-10-16",
    }
    assert streamed.body["stream"] is True
    assert plain.headers["authorization"] == "Bearer ya29.claude"
    rows = await debits(gw, t.account_id)
    assert [(r["amount_micros"], r["provider"]) for r in rows] == [(-3520, "vertex-claude")] * 2
    await check_invariants(gw.stores(), [t.account_id])


async def test_counting_tokens_for_claude_on_vertex_is_the_local_estimate(
    google: Google, fake: UpstreamControl
) -> None:
    t = await tenant(google.gw, credit=1_000_000)
    async with anthropic_client(google.gw, t.key) as client:
        raw = await client.messages.with_raw_response.count_tokens(
            model="claude-vertex", messages=[{"role": "user", "content": "hi"}]
        )
    assert raw.headers["x-meterway-token-count"] == "local"
    assert (await raw.parse()).input_tokens > 0
    assert fake.requests == []


async def test_image_output_is_billed_at_the_image_rate_and_held_at_it(
    google: Google, fake: UpstreamControl
) -> None:
    """gemini-2.5-flash-image reports 1,290 of its 1,400 candidate tokens as an image: per
    1M, input $0.30, text output $2.50, image output $30, so 300 x 0.30 + 110 x 2.50 +
    1,290 x 30 = 39,065 micros (3,590 if the image were text). The hold is at the image rate
    for the whole output cap: 2,000 x $30/M = 60,000 micros and more."""
    gw = google.gw
    t = await tenant(gw, credit=1_000_000)
    fake.usage = {
        "promptTokenCount": 300,
        "candidatesTokenCount": 1400,
        "totalTokenCount": 1700,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 300}],
        "candidatesTokensDetails": [
            {"modality": "IMAGE", "tokenCount": 1290},
            {"modality": "TEXT", "tokenCount": 110},
        ],
    }
    config = types.GenerateContentConfig(max_output_tokens=2000)
    model = "gemini-image"
    short = await tenant(gw, credit=50_000)  # the text rate's worst case fits; the image's not
    with pytest.raises(errors.ClientError) as refused:
        await _client(gw, short.key).aio.models.generate_content(
            model=model, contents="a cat", config=config
        )
    assert refused.value.code == 402 and fake.requests == []
    answer = await _client(gw, t.key).aio.models.generate_content(
        model=model, contents="a cat", config=config
    )
    assert answer.usage_metadata is not None
    rows = await debits(gw, t.account_id)
    assert [r["amount_micros"] for r in rows] == [-39_065]
    assert rows[0]["output_tokens"] == 1400
    await check_invariants(gw.stores(), [t.account_id])


async def test_an_output_modality_the_model_has_no_price_for_is_refused(
    google: Google, fake: UpstreamControl
) -> None:
    gw = google.gw
    t = await tenant(gw, credit=1_000_000)
    with pytest.raises(errors.ClientError) as refused:
        await _client(gw, t.key).aio.models.generate_content(
            model="gemini-flash-eu",
            contents="say it",
            config=types.GenerateContentConfig(response_modalities=["AUDIO"]),
        )
    assert refused.value.code == 400 and "AUDIO output" in str(refused.value)
    assert fake.requests == []
