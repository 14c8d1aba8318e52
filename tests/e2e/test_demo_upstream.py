"""The demo upstream, driven directly by the official SDKs: if they parse it, the gateway's
e2e tests can trust it as the fake provider."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anthropic
import openai
import pytest
import pytest_asyncio

from gateway.devtools.demo_upstream import (
    BEHAVIOUR_HEADER,
    Behaviour,
    RunningUpstream,
    UpstreamControl,
    count_words,
    start_upstream,
)

CHAT: Any = [{"role": "user", "content": "hello there"}]
REPLY = "You said: hello there. This is the Meterway demo upstream."


@pytest_asyncio.fixture(scope="module")
async def upstream() -> AsyncIterator[RunningUpstream]:
    async with await start_upstream() as running:
        yield running


@pytest.fixture(autouse=True)
def control(upstream: RunningUpstream) -> UpstreamControl:
    upstream.control.reset()
    return upstream.control


@pytest_asyncio.fixture
async def oai(upstream: RunningUpstream) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(base_url=upstream.url + "/v1", api_key="sk-up", max_retries=0)
    yield client
    await client.close()


@pytest_asyncio.fixture
async def claude(upstream: RunningUpstream) -> AsyncIterator[anthropic.AsyncAnthropic]:
    client = anthropic.AsyncAnthropic(base_url=upstream.url, api_key="sk-ant-up", max_retries=0)
    yield client
    await client.close()


async def raw_post(upstream: RunningUpstream, path: str, body: dict[str, Any]) -> tuple[int, str]:
    """The bytes on the wire, for what the SDKs hide (terminators, absent keys, event names)."""
    url = upstream.url + path
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        return response.status, await response.text()


async def chat_stream(oai: openai.AsyncOpenAI, **kwargs: Any) -> list[Any]:
    stream = await oai.chat.completions.create(
        model="gpt-4o-mini", messages=CHAT, stream=True, **kwargs
    )
    return [chunk async for chunk in stream]


def text_of(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


async def test_chat_json_counts_usage_and_records_the_key(
    oai: openai.AsyncOpenAI, control: UpstreamControl
) -> None:
    done = await oai.chat.completions.create(model="gpt-4o-mini", messages=CHAT)
    assert done.choices[0].message.content == REPLY
    assert done.choices[0].finish_reason == "stop"
    assert done.usage is not None
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (2, count_words(REPLY))
    assert done.usage.total_tokens == 2 + count_words(REPLY)
    assert done.usage.prompt_tokens_details is not None
    assert done.usage.prompt_tokens_details.cached_tokens == 0
    assert control.last_request.headers["authorization"] == "Bearer sk-up"
    assert control.bodies == [{"model": "gpt-4o-mini", "messages": CHAT}]
    assert (control.hits, control.completed) == (1, 1)


async def test_chat_stream_with_include_usage_ends_with_a_usage_chunk(
    oai: openai.AsyncOpenAI,
) -> None:
    chunks = await chat_stream(oai, stream_options={"include_usage": True})
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks[1:-1]] == [None, None, None, "stop"]
    assert text_of(chunks) == REPLY
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == count_words(REPLY)
    assert all(c.usage is None for c in chunks[:-1])


async def test_chat_stream_without_include_usage_has_no_usage(
    oai: openai.AsyncOpenAI, upstream: RunningUpstream
) -> None:
    chunks = await chat_stream(oai)
    assert all(c.choices and c.usage is None for c in chunks)
    status, wire = await raw_post(
        upstream, "/v1/chat/completions", {"model": "m", "messages": CHAT, "stream": True}
    )
    assert status == 200 and '"usage"' not in wire and wire.endswith("}\n\ndata: [DONE]\n\n")


async def test_max_completion_tokens_truncates_with_length(oai: openai.AsyncOpenAI) -> None:
    done = await oai.chat.completions.create(model="m", messages=CHAT, max_completion_tokens=3)
    assert done.choices[0].message.content == "You said: hello"
    assert done.choices[0].finish_reason == "length"
    assert done.usage is not None and done.usage.completion_tokens == 3


async def test_legacy_completions_json_and_stream(oai: openai.AsyncOpenAI) -> None:
    done = await oai.completions.create(model="gpt-3.5-turbo-instruct", prompt="say hi")
    assert done.object == "text_completion" and done.choices[0].text.startswith("You said: say hi")
    assert done.usage is not None and done.usage.prompt_tokens == 2
    stream = await oai.completions.create(
        model="m", prompt="say hi", stream=True, stream_options={"include_usage": True}
    )
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].text for c in chunks if c.choices) == done.choices[0].text
    assert chunks[-1].usage == done.usage


async def test_embeddings_in_base64_and_float(oai: openai.AsyncOpenAI) -> None:
    packed = await oai.embeddings.create(model="text-embedding-3-small", input=["a b", "c"])
    plain = await oai.embeddings.create(model="m", input=["a b", "c"], encoding_format="float")
    assert [len(e.embedding) for e in packed.data] == [8, 8]
    assert packed.data[0].embedding == pytest.approx(plain.data[0].embedding, abs=1e-6)
    assert plain.usage.prompt_tokens == plain.usage.total_tokens == 3


async def test_models_list_in_both_dialects(
    oai: openai.AsyncOpenAI, claude: anthropic.AsyncAnthropic
) -> None:
    assert "gpt-4o-mini" in [m.id async for m in oai.models.list()]
    assert "claude-haiku-4-5" in [m.id async for m in claude.models.list()]


async def test_messages_json(claude: anthropic.AsyncAnthropic, control: UpstreamControl) -> None:
    msg = await claude.messages.create(
        model="claude-haiku-4-5", max_tokens=100, system="be brief", messages=CHAT
    )
    assert msg.content[0].type == "text" and msg.content[0].text == REPLY
    assert msg.stop_reason == "end_turn"
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == (4, count_words(REPLY))
    assert msg.usage.cache_read_input_tokens == msg.usage.cache_creation_input_tokens == 0
    # anthropic 2.x sends the API key as a bearer token, not x-api-key
    assert control.last_request.headers["authorization"] == "Bearer sk-ant-up"
    assert "anthropic-version" in control.last_request.headers


async def test_messages_stream_final_usage(
    claude: anthropic.AsyncAnthropic, control: UpstreamControl
) -> None:
    control.usage = {"cache_read_input_tokens": 7}
    async with claude.messages.stream(model="m", max_tokens=4, messages=CHAT) as stream:
        final = await stream.get_final_message()
    assert final.content[0].type == "text" and final.content[0].text == "You said: hello there."
    assert final.stop_reason == "max_tokens"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (2, 4)
    assert final.usage.cache_read_input_tokens == 7


async def test_messages_stream_event_order(upstream: RunningUpstream) -> None:
    body = {"model": "m", "max_tokens": 50, "messages": CHAT, "stream": True}
    _, wire = await raw_post(upstream, "/v1/messages", body)
    events = [line.removeprefix("event: ") for line in wire.splitlines() if line.startswith("ev")]
    assert events == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * 3,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]


async def test_messages_requires_max_tokens(upstream: RunningUpstream) -> None:
    status, text = await raw_post(upstream, "/v1/messages", {"model": "m", "messages": CHAT})
    assert status == 400 and json.loads(text)["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, openai.InternalServerError),
        (429, openai.RateLimitError),
        (401, openai.AuthenticationError),
    ],
)
async def test_openai_status_errors(
    oai: openai.AsyncOpenAI, control: UpstreamControl, status: int, error: type[Exception]
) -> None:
    control.status = status
    with pytest.raises(error):
        await oai.chat.completions.create(model="m", messages=CHAT)


async def test_anthropic_errors_use_its_envelope(
    claude: anthropic.AsyncAnthropic, control: UpstreamControl
) -> None:
    control.status = 529
    with pytest.raises(anthropic.APIStatusError) as caught:
        await claude.messages.create(model="m", max_tokens=5, messages=CHAT)
    assert caught.value.status_code == 529
    assert isinstance(caught.value.body, dict) and caught.value.body["type"] == "error"
    assert caught.value.body["error"]["type"] == "overloaded_error"


async def test_script_then_defaults_and_custom_error_body(
    oai: openai.AsyncOpenAI, control: UpstreamControl
) -> None:
    control.reply_text = "default"
    control.script = [
        Behaviour(status=400, error_body={"error": {"message": "nope"}}),
        Behaviour(reply_text="scripted"),
    ]
    with pytest.raises(openai.BadRequestError, match="nope"):
        await oai.chat.completions.create(model="m", messages=CHAT)
    for expected in ("scripted", "default"):
        done = await oai.chat.completions.create(model="m", messages=CHAT)
        assert done.choices[0].message.content == expected


async def test_behaviour_header(oai: openai.AsyncOpenAI) -> None:
    header = {BEHAVIOUR_HEADER: json.dumps({"reply_text": "from header", "usage": {"x": 1}})}
    done = await oai.chat.completions.with_raw_response.create(
        model="m", messages=CHAT, extra_headers=header
    )
    assert json.loads(done.text)["choices"][0]["message"]["content"] == "from header"
    assert json.loads(done.text)["usage"] == {"x": 1}
    with pytest.raises(openai.BadRequestError, match="unknown behaviour knob: colour"):
        await oai.chat.completions.create(
            model="m", messages=CHAT, extra_headers={BEHAVIOUR_HEADER: '{"colour": 1}'}
        )


async def test_omit_and_ignore_usage(oai: openai.AsyncOpenAI, control: UpstreamControl) -> None:
    control.omit_usage = True
    assert (await oai.chat.completions.create(model="m", messages=CHAT)).usage is None
    assert all(c.choices for c in await chat_stream(oai, stream_options={"include_usage": True}))
    control.reset()
    control.ignore_usage_request = True
    assert (await oai.chat.completions.create(model="m", messages=CHAT)).usage is not None
    assert all(c.choices for c in await chat_stream(oai, stream_options={"include_usage": True}))


async def collect_openai(oai: openai.AsyncOpenAI) -> tuple[list[str], BaseException | None]:
    stream = await oai.chat.completions.create(model="m", messages=CHAT, stream=True)
    seen: list[str] = []
    try:
        async for chunk in stream:
            seen.append(chunk.choices[0].delta.content or "")
    except Exception as exc:
        return seen, exc
    return seen, None


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("disconnect", openai.APIConnectionError),
        ("truncate", None),
        ("malformed", json.JSONDecodeError),
        ("error_event", openai.APIError),
    ],
)
async def test_openai_mid_stream_failures(
    oai: openai.AsyncOpenAI, control: UpstreamControl, mode: Any, error: type[Exception] | None
) -> None:
    """After the role chunk and 2 content chunks; a truncated stream just ends, no error."""
    control.chunks, control.fail_after_chunks, control.fail_mode = 4, 2, mode
    seen, exc = await collect_openai(oai)
    assert len(seen) == 3 and seen[0] == "" and all(seen[1:])
    assert type(exc) is error if error else exc is None
    assert control.completed == control.cancelled == 0


@pytest.mark.parametrize(
    ("mode", "error", "text"),
    [
        # anthropic does not wrap transport errors mid-stream: httpx2's own error escapes
        ("disconnect", Exception, "incomplete chunked read"),
        ("malformed", json.JSONDecodeError, "Expecting|Unterminated"),
        ("error_event", anthropic.APIStatusError, "overloaded_error"),
    ],
)
async def test_anthropic_mid_stream_failures(
    claude: anthropic.AsyncAnthropic,
    control: UpstreamControl,
    mode: Any,
    error: type[Exception],
    text: str,
) -> None:
    control.fail_after_chunks, control.fail_mode = 1, mode
    with pytest.raises(error, match=text):
        async with claude.messages.stream(model="m", max_tokens=50, messages=CHAT) as stream:
            await stream.get_final_message()


async def test_anthropic_truncated_stream_has_no_stop_reason(
    claude: anthropic.AsyncAnthropic, control: UpstreamControl
) -> None:
    control.fail_after_chunks, control.fail_mode = 1, "truncate"
    async with claude.messages.stream(model="m", max_tokens=50, messages=CHAT) as stream:
        events = [event.type async for event in stream]
        final = await stream.get_final_message()
    assert "message_stop" not in events and "content_block_delta" in events
    assert final.stop_reason is None and final.usage.output_tokens == 1


async def test_client_hang_up_is_counted_at_once(
    oai: openai.AsyncOpenAI, control: UpstreamControl
) -> None:
    control.chunks, control.chunk_delay_s = 20, 5.0
    stream = await oai.chat.completions.create(model="m", messages=CHAT, stream=True)
    await stream.__anext__()
    await stream.close()
    async with asyncio.timeout(1):
        await control.wait_until(lambda c: c.cancelled == 1)
    assert control.completed == 0


async def test_hang_up_during_delay_is_counted(
    upstream: RunningUpstream, control: UpstreamControl
) -> None:
    control.delay_s = 60
    client = openai.AsyncOpenAI(base_url=upstream.url + "/v1", api_key="x", max_retries=0)
    call = asyncio.ensure_future(client.chat.completions.create(model="m", messages=CHAT))
    # The client hangs up once the provider holds its request, in the delay: on that event,
    # not after a client timeout a loaded machine can spend before the request arrives.
    async with asyncio.timeout(30):
        await control.wait_until(lambda c: c.hits_by_path["/v1/chat/completions"] == 1)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await client.close()
    async with asyncio.timeout(30):
        await control.wait_until(lambda c: c.cancelled == 1)
    assert control.hits_by_path["/v1/chat/completions"] == 1


async def test_chunk_delay_paces_the_stream(
    oai: openai.AsyncOpenAI, control: UpstreamControl
) -> None:
    control.chunks, control.chunk_delay_s = 2, 0.05
    started = asyncio.get_running_loop().time()
    chunks = await chat_stream(oai)
    assert asyncio.get_running_loop().time() - started >= 0.05 * (len(chunks) - 1)
    assert (control.completed, control.cancelled) == (1, 0)
