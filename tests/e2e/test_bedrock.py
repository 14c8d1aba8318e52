"""AWS Bedrock through the official anthropic SDK: a Messages call for a model routed to a
`wire = "bedrock"` provider goes to InvokeModel (`/model/{id}/invoke`, or
`/invoke-with-response-stream` for a stream, answered in AWS's binary event-stream framing),
SigV4-signed with the credentials of the standard AWS chain (environment variables here);
each signature verifies with botocore's own signer, and each debit is exact for the usage
Bedrock reported, at the catalogue's `aws` prices."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import pytest
from anthropic.types import MessageParam
from botocore.credentials import Credentials
from openai.types.chat import ChatCompletionMessageParam

from gateway.devtools.demo_upstream import RunningUpstream, UpstreamControl
from tests.support.aws_sigv4 import verifies
from tests.support.factories import anthropic_client, debits, openai_client, tenant, usage_stream
from tests.support.harness import Gateway, gateway_with_providers
from tests.support.invariants import check_invariants

MODEL_ID = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
PRICING = f"""
[models."haiku-bedrock"]
provider = "bedrock"
upstream = "{MODEL_ID}"
catalogue = "regional.anthropic.claude-3-5-haiku-20241022-v1:0"
max_output_tokens = 8192

[models."nova-bedrock"]
provider = "bedrock"
upstream = "amazon.nova-lite-v1:0"
catalogue = "amazon.nova-lite-v1:0"
max_output_tokens = 5000
"""
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIDMETERWAYTEST",
    "AWS_SECRET_ACCESS_KEY": "meterway/test/secret",
    "AWS_SESSION_TOKEN": "session-token",
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    "AWS_EC2_METADATA_DISABLED": "true",
}
CREDS = Credentials("AKIDMETERWAYTEST", "meterway/test/secret", "session-token")
USAGE = {
    "input_tokens": 1000,
    "output_tokens": 500,
    "cache_read_input_tokens": 200,
    "cache_creation_input_tokens": 100,
}
# claude-3-5-haiku on Bedrock per 1M: input $0.80, output $4, cache read $0.08, write $1.
# 1000 x 0.80 + 500 x 4 + 200 x 0.08 + 100 x 1 = 800 + 2000 + 16 + 100 micros.
COST = 2916
MESSAGES: list[MessageParam] = [{"role": "user", "content": "hi"}]
BEDROCK_PROVIDER = (
    '[providers.bedrock]\nwire = "bedrock"\nbase_url = "{url}"\nregion = "us-east-1"\n'
)


@dataclass
class Bedrock:
    gw: Gateway
    fake: RunningUpstream


@pytest.fixture(scope="module")
async def bedrock(dsn: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Bedrock]:
    tmp_path = tmp_path_factory.mktemp("bedrock")
    with pytest.MonkeyPatch.context() as env:
        for name, value in AWS_ENV.items():
            env.setenv(name, value)
        async with gateway_with_providers(dsn, tmp_path, PRICING, BEDROCK_PROVIDER) as started:
            yield Bedrock(*started)


@pytest.fixture
def fake(bedrock: Bedrock) -> UpstreamControl:
    control = bedrock.fake.control
    control.reset()
    control.usage = USAGE
    return control


async def test_a_message_goes_to_invoke_model_signed_and_billed_exactly(
    bedrock: Bedrock, fake: UpstreamControl
) -> None:
    gw = bedrock.gw
    t = await tenant(gw, credit=1_000_000)
    async with anthropic_client(gw, t.key) as client:
        raw = await client.messages.with_raw_response.create(
            model="haiku-bedrock", max_tokens=600, messages=MESSAGES
        )
    message = await raw.parse()
    assert message.content and message.usage.output_tokens == 500
    assert raw.headers["x-meterway-cost-micros"] == str(COST)
    [sent] = fake.requests
    assert sent.path == f"/model/{MODEL_ID}/invoke"
    assert sent.raw_path == "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/invoke"
    assert sent.body == {
        "max_tokens": 600,
        "messages": MESSAGES,
        "anthropic_version": "bedrock-2023-05-31",
    }
    assert sent.headers["x-amz-security-token"] == "session-token"
    assert "/us-east-1/bedrock/aws4_request" in sent.headers["authorization"]
    assert verifies(sent, CREDS, "us-east-1", "bedrock")
    rows = await debits(gw, t.account_id)
    assert [(r["amount_micros"], r["provider"]) for r in rows] == [(-COST, "bedrock")]
    await check_invariants(gw.stores(), [t.account_id])


async def test_a_stream_comes_back_from_aws_event_stream_frames(
    bedrock: Bedrock, fake: UpstreamControl
) -> None:
    gw = bedrock.gw
    t = await tenant(gw, credit=1_000_000)
    async with anthropic_client(gw, t.key) as client:
        stream = await client.messages.create(
            model="haiku-bedrock", max_tokens=600, messages=MESSAGES, stream=True
        )
        events = [event async for event in stream]
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "content_block_delta" in kinds
    delta = next(e for e in events if e.type == "message_delta")
    assert delta.usage.output_tokens == 500
    [sent] = fake.requests
    assert sent.path == f"/model/{MODEL_ID}/invoke-with-response-stream"
    assert "stream" not in sent.body
    assert verifies(sent, CREDS, "us-east-1", "bedrock")
    assert [r["amount_micros"] for r in await debits(gw, t.account_id)] == [-COST]
    await check_invariants(gw.stores(), [t.account_id])


async def test_a_tampered_body_does_not_verify(bedrock: Bedrock, fake: UpstreamControl) -> None:
    t = await tenant(bedrock.gw, credit=1_000_000)
    async with anthropic_client(bedrock.gw, t.key) as client:
        await client.messages.create(model="haiku-bedrock", max_tokens=600, messages=MESSAGES)
    [sent] = fake.requests
    assert verifies(sent, CREDS, "us-east-1", "bedrock")
    tampered = replace(sent, raw=sent.raw.replace(b"600", b"601"))
    assert not verifies(tampered, CREDS, "us-east-1", "bedrock")


async def test_openai_clients_reach_bedrock_models_through_converse(
    bedrock: Bedrock, fake: UpstreamControl
) -> None:
    gw = bedrock.gw
    t = await tenant(gw, credit=1_000_000)
    fake.usage = {
        "inputTokens": 1000,
        "outputTokens": 500,
        "cacheReadInputTokens": 200,
        "totalTokens": 1700,
    }
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]
    async with openai_client(gw, t.key) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="nova-bedrock", messages=messages, max_tokens=600
        )
        chunks = await usage_stream(client, "nova-bedrock", messages, max_tokens=600)
    answer = raw.parse()
    assert answer.choices[0].message.content and answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (1200, 500)
    # amazon.nova-lite per 1M: input $0.06, cache read $0.015, output $0.24:
    # 1000 x 0.06 + 200 x 0.015 + 500 x 0.24 = 60 + 3 + 120 micros.
    assert raw.headers["x-meterway-cost-micros"] == "183"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 500
    plain, streamed = fake.requests
    assert plain.raw_path == "/model/amazon.nova-lite-v1%3A0/converse"
    assert plain.body == {
        "messages": [{"role": "user", "content": [{"text": "hi"}]}],
        "inferenceConfig": {"maxTokens": 600},
        "system": [{"text": "Be brief."}],
    }
    assert streamed.raw_path == "/model/amazon.nova-lite-v1%3A0/converse-stream"
    assert verifies(plain, CREDS, "us-east-1", "bedrock")
    assert verifies(streamed, CREDS, "us-east-1", "bedrock")
    rows = await debits(gw, t.account_id)
    assert [r["amount_micros"] for r in rows] == [-183, -183]
    await check_invariants(gw.stores(), [t.account_id])
