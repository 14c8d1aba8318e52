"""Azure OpenAI through the official `openai.AzureOpenAI` client: Meterway takes the client's
key as `api-key`, names the model by the deployment in the path (or in the body on the v1
API), and forwards to the resource's deployment with the operator's `api-key` and
`api-version`; chat (JSON and SSE), embeddings and Responses, each debit exact for Azure's
usage at the operator's or the `azure` catalogue's prices."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from gateway.devtools.demo_upstream import RunningUpstream, UpstreamControl
from tests.support.factories import debits, openai_http, tenant
from tests.support.harness import Gateway, gateway_with_providers
from tests.support.invariants import check_invariants

API_VERSION = "2024-10-21"
PRICING = """
[models."gpt-4o-eu"]
provider = "azure"
upstream = "gpt4o-prod"
max_output_tokens = 4096
input = "2.50"
output = "10.00"

[models."embed-eu"]
provider = "azure"
upstream = "embed-small"
kind = "embedding"
catalogue = "text-embedding-3-small"

[models."o4-eu"]
provider = "azure-v1"
upstream = "o4-mini-prod"
catalogue = "o4-mini"
"""
USAGE = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
GPT4O_COST = 1000 * 25 // 10 + 500 * 10  # $2.50 / $10.00 per 1M tokens: 2500 + 5000
MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]


@dataclass
class Azure:
    gw: Gateway
    fake: RunningUpstream


@pytest.fixture(scope="module")
async def azure(dsn: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Azure]:
    providers = (
        '[providers.azure]\nwire = "azure"\nbase_url = "{url}"\n'
        f'api_key = "az-key"\napi_version = "{API_VERSION}"\n'
        '[providers.azure-v1]\nwire = "azure"\nbase_url = "{url}"\napi_key = "az-v1-key"\n'
    )
    tmp_path = tmp_path_factory.mktemp("azure")
    async with gateway_with_providers(dsn, tmp_path, PRICING, providers) as started:
        yield Azure(*started)


@pytest.fixture
def fake(azure: Azure) -> UpstreamControl:
    control = azure.fake.control
    control.reset()
    control.usage = USAGE
    return control


def _client(gw: Gateway, key: str) -> openai.AsyncAzureOpenAI:
    return openai.AsyncAzureOpenAI(
        azure_endpoint=gw.url,
        api_key=key,
        api_version=API_VERSION,
        max_retries=0,
        http_client=openai_http(),
    )


async def test_chat_by_deployment_json_and_stream_billed_at_the_operators_price(
    azure: Azure, fake: UpstreamControl
) -> None:
    gw = azure.gw
    t = await tenant(gw, credit=1_000_000)
    async with _client(gw, t.key) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-4o-eu", messages=MESSAGES, max_tokens=600
        )
        stream = await client.chat.completions.create(
            model="gpt-4o-eu", messages=MESSAGES, max_tokens=600, stream=True
        )
        chunks = [chunk async for chunk in stream]
    assert raw.parse().choices[0].message.content and chunks
    assert raw.headers["x-meterway-cost-micros"] == str(GPT4O_COST)
    sent = fake.requests
    assert [r.path for r in sent] == ["/openai/deployments/gpt4o-prod/chat/completions"] * 2
    assert {r.query for r in sent} == {f"api-version={API_VERSION}"}
    assert {r.headers["api-key"] for r in sent} == {"az-key"}
    assert all("authorization" not in r.headers for r in sent)
    assert sent[1].body["stream_options"] == {"include_usage": True}
    rows = await debits(gw, t.account_id)
    assert [r["amount_micros"] for r in rows] == [-GPT4O_COST] * 2
    assert {(r["model"], r["provider"]) for r in rows} == {("gpt-4o-eu", "azure")}
    await check_invariants(gw.stores(), [t.account_id])


async def test_embeddings_by_deployment_at_the_azure_catalogue_price(
    azure: Azure, fake: UpstreamControl
) -> None:
    gw = azure.gw
    t = await tenant(gw, credit=1_000_000)
    fake.usage = {"prompt_tokens": 1500, "total_tokens": 1500}
    texts = ["hello world " * 100] * 10  # 2,000 tokens reserved, 1,500 reported
    async with _client(gw, t.key) as client:
        raw = await client.embeddings.with_raw_response.create(model="embed-eu", input=texts)
    assert raw.parse().data
    # azure text-embedding-3-small: 1,500 x $0.02/M = 30 micros.
    assert raw.headers["x-meterway-cost-micros"] == "30"
    [sent] = fake.requests
    assert (sent.path, sent.query) == (
        "/openai/deployments/embed-small/embeddings", f"api-version={API_VERSION}"
    )  # fmt: skip
    assert [r["amount_micros"] for r in await debits(gw, t.account_id)] == [-30]
    await check_invariants(gw.stores(), [t.account_id])


async def test_responses_go_to_the_resources_responses_route(
    azure: Azure, fake: UpstreamControl
) -> None:
    gw = azure.gw
    t = await tenant(gw, credit=1_000_000)
    fake.usage = {"input_tokens": 1000, "output_tokens": 500, "total_tokens": 1500}
    async with _client(gw, t.key) as client:
        raw = await client.responses.with_raw_response.create(
            model="gpt-4o-eu", input="hi", max_output_tokens=600
        )
    assert raw.parse().output_text
    assert raw.headers["x-meterway-cost-micros"] == str(GPT4O_COST)
    [sent] = fake.requests
    assert (sent.path, sent.query) == ("/openai/responses", f"api-version={API_VERSION}")
    assert sent.body["model"] == "gpt4o-prod"
    assert [r["amount_micros"] for r in await debits(gw, t.account_id)] == [-GPT4O_COST]


async def test_the_v1_api_names_the_model_in_the_body_both_ways(
    azure: Azure, fake: UpstreamControl
) -> None:
    gw = azure.gw
    t = await tenant(gw, credit=1_000_000)
    async with openai.AsyncOpenAI(
        base_url=gw.url + "/openai/v1", api_key=t.key, max_retries=0
    ) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="o4-eu", messages=MESSAGES, max_completion_tokens=600
        )
    assert raw.parse().choices[0].message.content
    # azure o4-mini: 1000 x $1.10/M + 500 x $4.40/M = 1100 + 2200 micros.
    assert raw.headers["x-meterway-cost-micros"] == "3300"
    [sent] = fake.requests
    assert (sent.path, sent.query) == ("/openai/v1/chat/completions", "")
    assert (sent.body["model"], sent.headers["api-key"]) == ("o4-mini-prod", "az-v1-key")
    rows = await debits(gw, t.account_id)
    assert [(r["amount_micros"], r["provider"]) for r in rows] == [(-3300, "azure-v1")]
    await check_invariants(gw.stores(), [t.account_id])


async def test_a_deployment_meterway_does_not_serve_is_refused_by_name(
    azure: Azure, fake: UpstreamControl
) -> None:
    t = await tenant(azure.gw, credit=1_000_000)
    async with _client(azure.gw, t.key) as client:
        with pytest.raises(openai.NotFoundError) as caught:
            await client.chat.completions.create(model="no-such-deployment", messages=MESSAGES)
    assert "'no-such-deployment'" in caught.value.message
    assert fake.requests == []
