"""OpenAI tool calling through the Gemini and Bedrock Converse translations, driven by the
official openai SDK: a round trip (ask, tool_calls, the tool's result, the final answer)
plain and streamed (the SDK's stream helpers accumulating the deltas), each debit exact for
the provider's usage; tool_choice variants; what stays untranslatable refused by name
before anything is reserved; the reservation counting the tools."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import openai
import orjson
import pytest
from openai.types.chat import ChatCompletionToolMessageParam, ChatCompletionToolParam

from gateway.devtools.demo_upstream import RunningUpstream, UpstreamControl
from tests.e2e.test_bedrock import AWS_ENV, BEDROCK_PROVIDER, CREDS
from tests.support.aws_sigv4 import verifies
from tests.support.factories import GEMINI_PRO_PRICING, debits, openai_client, tenant
from tests.support.factories import WEATHER_TOOL as WEATHER
from tests.support.harness import Gateway, gateway_with_providers
from tests.support.invariants import check_invariants

PRICING = (
    GEMINI_PRO_PRICING
    + """
[models."nova-bedrock"]
provider = "bedrock"
upstream = "amazon.nova-lite-v1:0"
catalogue = "amazon.nova-lite-v1:0"
max_output_tokens = 5000
"""
)
GEMINI_USAGE = {
    "promptTokenCount": 1000,
    "toolUsePromptTokenCount": 50,
    "candidatesTokenCount": 300,
    "thoughtsTokenCount": 100,
}
# gemini-2.5-pro per 1M: input $1.25, output $10: (1000 + 50) x 1.25 + 400 x 10 = 1312.5 +
# 4000 micros, rounded up.
GEMINI_COST = 5313
CONVERSE_USAGE = {"inputTokens": 1000, "outputTokens": 500, "totalTokens": 1500}
NOVA_COST = 180  # amazon.nova-lite per 1M: input $0.06, output $0.24: 60 + 120 micros
CLOCK = {"type": "function", "function": {"name": "now", "description": "The time."}}
TOOLS: Any = [WEATHER, CLOCK]
ASK: Any = [{"role": "user", "content": "What is the weather in Paris?"}]
PARIS = [{"name": "get_weather", "arguments": {"city": "Paris"}}]


@dataclass
class Both:
    gw: Gateway
    fake: RunningUpstream


@pytest.fixture(scope="module")
async def both(dsn: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Both]:
    tmp_path = tmp_path_factory.mktemp("tools")
    gemini = '[providers.gemini]\nwire = "gemini"\nbase_url = "{url}/v1beta"\napi_key = "g"\n'
    with pytest.MonkeyPatch.context() as env:
        for name, value in AWS_ENV.items():
            env.setenv(name, value)
        providers = gemini + BEDROCK_PROVIDER
        async with gateway_with_providers(dsn, tmp_path, PRICING, providers) as started:
            yield Both(*started)


@pytest.fixture
def fake(both: Both) -> UpstreamControl:
    control = both.fake.control
    control.reset()
    return control


def _usage(fake: UpstreamControl, model: str) -> int:
    """Sets the usage the fake reports for `model`; the cost of one call at that usage."""
    if model == "gemini-pro":
        fake.usage = GEMINI_USAGE
        return GEMINI_COST
    fake.usage = CONVERSE_USAGE
    return NOVA_COST


def _result(call_id: str) -> ChatCompletionToolMessageParam:
    return {"role": "tool", "tool_call_id": call_id, "content": "Sunny, 21 C."}


@pytest.mark.parametrize("model", ["gemini-pro", "nova-bedrock"])
async def test_a_tool_call_round_trip(both: Both, fake: UpstreamControl, model: str) -> None:
    gw, cost = both.gw, _usage(fake, model)
    t = await tenant(gw, credit=1_000_000)
    fake.tool_calls = PARIS
    async with openai_client(gw, t.key) as client:
        asked = await client.chat.completions.create(
            model=model, messages=ASK, tools=TOOLS, max_tokens=600
        )
        choice = asked.choices[0]
        assert choice.finish_reason == "tool_calls" and choice.message.tool_calls
        [call] = choice.message.tool_calls
        assert call.type == "function" and call.function.name == "get_weather"
        assert orjson.loads(call.function.arguments) == {"city": "Paris"}
        history = [*ASK, choice.message.model_dump(exclude_none=True), _result(call.id)]
        final = await client.chat.completions.create(
            model=model, messages=history, tools=TOOLS, max_tokens=600
        )
    assert final.choices[0].finish_reason == "stop"
    assert "Sunny, 21 C." in (final.choices[0].message.content or "")
    assert final.usage is not None and asked.usage is not None
    _check_sent_back(fake, model, call.id)
    rows = await debits(gw, t.account_id)
    assert [r["amount_micros"] for r in rows] == [-cost, -cost]
    await check_invariants(gw.stores(), [t.account_id])


def _check_sent_back(fake: UpstreamControl, model: str, call_id: str) -> None:
    """The second request carried the call and its result in the provider's terms."""
    first, second = fake.requests
    if model == "gemini-pro":
        assert [d["name"] for d in first.body["tools"][0]["functionDeclarations"]] == [
            "get_weather",
            "now",
        ]
        called, answered = second.body["contents"][1:]
        assert called == {
            "role": "model",
            "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}],
        }  # the id was made by the gateway: Gemini matches by name
        response = {"name": "get_weather", "response": {"output": "Sunny, 21 C."}}
        assert answered == {"role": "user", "parts": [{"functionResponse": response}]}
        return
    assert call_id.startswith("tooluse_")
    called, answered = second.body["messages"][1:]
    use = {"toolUseId": call_id, "name": "get_weather", "input": {"city": "Paris"}}
    assert called == {"role": "assistant", "content": [{"toolUse": use}]}
    result = {"toolUseId": call_id, "content": [{"text": "Sunny, 21 C."}]}
    assert answered == {"role": "user", "content": [{"toolResult": result}]}
    assert verifies(first, CREDS, "us-east-1", "bedrock")
    assert verifies(second, CREDS, "us-east-1", "bedrock")


async def _streamed(client: openai.AsyncOpenAI, model: str, messages: Any) -> Any:
    """The SDK's stream helper, its deltas accumulated into the final completion."""
    async with client.chat.completions.stream(
        model=model,
        messages=messages,
        tools=TOOLS,
        max_tokens=600,
        stream_options={"include_usage": True},
    ) as stream:
        kinds = {event.type async for event in stream}
        return kinds, await stream.get_final_completion()


@pytest.mark.parametrize("model", ["gemini-pro", "nova-bedrock"])
async def test_a_streamed_round_trip(both: Both, fake: UpstreamControl, model: str) -> None:
    gw, cost = both.gw, _usage(fake, model)
    t = await tenant(gw, credit=1_000_000)
    fake.tool_calls = [*PARIS, {"name": "now", "arguments": {}}]
    async with openai_client(gw, t.key) as client:
        kinds, asked = await _streamed(client, model, ASK)
        message = asked.choices[0].message
        assert asked.choices[0].finish_reason == "tool_calls"
        assert "tool_calls.function.arguments.done" in kinds
        weather, clock = message.tool_calls
        assert (weather.function.name, clock.function.name) == ("get_weather", "now")
        assert orjson.loads(weather.function.arguments) == {"city": "Paris"}
        assert orjson.loads(clock.function.arguments) == {} and weather.id != clock.id
        history = [
            *ASK,
            message.model_dump(exclude_none=True, exclude={"parsed"}),
            _result(weather.id),
            {"role": "tool", "tool_call_id": clock.id, "content": "noon"},
        ]
        _, final = await _streamed(client, model, history)
    assert final.choices[0].finish_reason == "stop"
    assert "noon" in (final.choices[0].message.content or "")
    assert final.usage is not None and final.usage.prompt_tokens > 0
    rows = await debits(gw, t.account_id)
    assert [r["amount_micros"] for r in rows] == [-cost, -cost]
    await check_invariants(gw.stores(), [t.account_id])


async def test_gemini_call_ids_are_sent_back(both: Both, fake: UpstreamControl) -> None:
    t = await tenant(both.gw, credit=1_000_000)
    fake.tool_calls = [{**PARIS[0], "id": "gem-7"}]
    async with openai_client(both.gw, t.key) as client:
        asked = await client.chat.completions.create(
            model="gemini-pro", messages=ASK, tools=TOOLS, max_tokens=600
        )
        message = asked.choices[0].message
        assert message.tool_calls and message.tool_calls[0].id == "gem-7"
        history = [*ASK, message.model_dump(exclude_none=True), _result("gem-7")]
        await client.chat.completions.create(
            model="gemini-pro", messages=history, tools=TOOLS, max_tokens=600
        )
    called, answered = fake.requests[1].body["contents"][1:]
    assert called["parts"][0]["functionCall"]["id"] == "gem-7"
    assert answered["parts"][0]["functionResponse"]["id"] == "gem-7"


NAMED = {"type": "function", "function": {"name": "now"}}


@pytest.mark.parametrize(
    ("model", "choice", "sent", "called"),
    [
        ("gemini-pro", "required", {"functionCallingConfig": {"mode": "ANY"}}, "get_weather"),
        (
            "gemini-pro",
            NAMED,
            {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["now"]}},
            "now",
        ),
        ("gemini-pro", "none", {"functionCallingConfig": {"mode": "NONE"}}, None),
        ("gemini-pro", "auto", {"functionCallingConfig": {"mode": "AUTO"}}, None),
        ("nova-bedrock", "required", {"any": {}}, "get_weather"),
        ("nova-bedrock", NAMED, {"tool": {"name": "now"}}, "now"),
        ("nova-bedrock", "auto", {"auto": {}}, None),
    ],
)
async def test_tool_choice(
    both: Both, fake: UpstreamControl, model: str, choice: Any, sent: Any, called: str | None
) -> None:
    t = await tenant(both.gw, credit=1_000_000)
    async with openai_client(both.gw, t.key) as client:
        answer = await client.chat.completions.create(
            model=model, messages=ASK, tools=TOOLS, tool_choice=choice, max_tokens=600
        )
    calls = answer.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ([called] if called else [])  # type: ignore[union-attr]
    body = fake.requests[0].body
    config = body["toolConfig"] if model == "gemini-pro" else body["toolConfig"]["toolChoice"]
    assert config == sent


# A history holding a call and its result.
CALLED: Any = [
    *ASK,
    {
        "role": "assistant",
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "now", "arguments": "{}"}}
        ],
    },
    {"role": "tool", "tool_call_id": "c1", "content": "noon"},
]


async def test_tool_choice_none_withholds_the_tools_from_converse(
    both: Both, fake: UpstreamControl
) -> None:
    """Converse has no 'none': the tools are not sent, so none can be called."""
    gw, cost = both.gw, _usage(fake, "nova-bedrock")
    t = await tenant(gw, credit=1_000_000)
    fake.tool_calls = PARIS
    async with openai_client(gw, t.key) as client:
        answer = await client.chat.completions.create(
            model="nova-bedrock", messages=ASK, tools=TOOLS, tool_choice="none", max_tokens=600
        )
    assert answer.choices[0].message.tool_calls is None
    assert answer.choices[0].finish_reason == "stop"
    assert "toolConfig" not in fake.requests[0].body
    assert [r["amount_micros"] for r in await debits(gw, t.account_id)] == [-cost]


@pytest.mark.parametrize(
    ("model", "fields", "param"),
    [
        ("gemini-pro", {"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools[0].type"),
        (
            "nova-bedrock",
            {"tools": [{"type": "function", "function": {**WEATHER["function"], "strict": True}}]},
            "tools[0].function.strict",
        ),
        ("gemini-pro", {"tools": TOOLS, "parallel_tool_calls": False}, "parallel_tool_calls"),
        (
            "nova-bedrock",
            {"tools": TOOLS, "tool_choice": "none", "messages": CALLED},
            "tool_choice",
        ),
        ("nova-bedrock", {"messages": [{"role": "user", "content": ""}]}, "messages[0].content"),
        (
            "nova-bedrock",
            {"tools": TOOLS, "messages": [*CALLED[:2], {**CALLED[2], "content": ""}]},
            "messages[2].content",
        ),
        (
            "gemini-pro",
            {"tools": [{"type": "function", "function": {"name": "2fast"}}]},
            "tools[0].function.name",
        ),
        (
            "nova-bedrock",
            {"messages": [*ASK, {"role": "tool", "tool_call_id": "x", "content": "?"}]},
            "messages[1].tool_call_id",
        ),
    ],
)
async def test_what_stays_untranslatable_is_refused_by_name(
    both: Both, fake: UpstreamControl, model: str, fields: dict[str, Any], param: str
) -> None:
    t = await tenant(both.gw, credit=1_000_000)
    body = {"model": model, "messages": ASK, "max_tokens": 600, **fields}
    async with openai_client(both.gw, t.key) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(**body)
    assert caught.value.param == param and param in caught.value.message
    assert fake.requests == []
    assert await debits(both.gw, t.account_id) == []


async def test_the_reservation_counts_the_tools(both: Both, fake: UpstreamControl) -> None:
    """A prompt the balance covers is refused once a large tools array joins it: at
    gemini-2.5-pro's $1.25 per 1M input, ~100k tokens of tool descriptions need 125,000
    micros more than the balance holds."""
    t = await tenant(both.gw, credit=100_000)
    fake.usage = GEMINI_USAGE
    big: ChatCompletionToolParam = {
        "type": "function",
        "function": {"name": "big", "description": "word " * 100_000},
    }
    async with openai_client(both.gw, t.key) as client:
        await client.chat.completions.create(
            model="gemini-pro", messages=ASK, tools=TOOLS, max_tokens=600
        )
        with pytest.raises(openai.APIStatusError) as caught:
            await client.chat.completions.create(
                model="gemini-pro", messages=ASK, tools=[big], max_tokens=600
            )
    assert caught.value.status_code == 402
    assert len(fake.requests) == 1


SIGNED = [{**PARIS[0], "thought_signature": "c2lnLXBhcmlz"}]


@pytest.mark.parametrize("streamed", [False, True])
async def test_gemini_thought_signatures_go_back_with_their_calls(
    both: Both, fake: UpstreamControl, streamed: bool
) -> None:
    """As Gemini 3 wants: the call's signature reaches the client in
    extra_content.google.thought_signature (where Google's OpenAI endpoint puts it) and,
    sent back with the call, returns on its functionCall part."""
    gw, cost = both.gw, _usage(fake, "gemini-pro")
    t = await tenant(gw, credit=1_000_000)
    fake.tool_calls, fake.signatures_required = SIGNED, True
    async with openai_client(gw, t.key) as client:
        if streamed:
            _, asked = await _streamed(client, "gemini-pro", ASK)
        else:
            asked = await client.chat.completions.create(
                model="gemini-pro", messages=ASK, tools=TOOLS, max_tokens=600
            )
        message = asked.choices[0].message
        [call] = message.tool_calls or []
        assert (call.model_extra or {}).get("extra_content") == {
            "google": {"thought_signature": "c2lnLXBhcmlz"}
        }
        sent = message.model_dump(exclude_none=True, exclude={"parsed"})
        await client.chat.completions.create(
            model="gemini-pro", messages=[*ASK, sent, _result(call.id)], tools=TOOLS
        )
        called = fake.requests[-1].body["contents"][1]["parts"][0]
        assert called["thoughtSignature"] == "c2lnLXBhcmlz"

        # A client that drops the signature meets Gemini's own refusal, and pays nothing.
        unsigned: Any = {**sent, "tool_calls": [{k: v for k, v in sent["tool_calls"][0].items()
                                            if k != "extra_content"}]}  # fmt: skip
        with pytest.raises(openai.BadRequestError, match="thought_signature"):
            await client.chat.completions.create(
                model="gemini-pro", messages=[*ASK, unsigned, _result(call.id)], tools=TOOLS
            )
        odd_call = {**sent["tool_calls"][0], "extra_content": {"x": 1}}
        malformed: Any = {**sent, "tool_calls": [odd_call]}
        with pytest.raises(openai.BadRequestError) as refused:
            await client.chat.completions.create(
                model="gemini-pro", messages=[*ASK, malformed, _result(call.id)], tools=TOOLS
            )
        assert refused.value.param == "messages[1].tool_calls[0].extra_content"
    rows = await debits(gw, t.account_id)
    assert [r["amount_micros"] for r in rows] == [-cost, -cost]
    await check_invariants(gw.stores(), [t.account_id])
