"""No stream's end reaches its client before its settle is sent (issue 69), on every shape.

Redis is stalled the moment the provider is called: the gateway's connection is dropped and
a new one is accepted but never read, so the settle cannot be written past its connection's
setup. While stalled, the client has every event of the answer but not its end: no `[DONE]`,
`message_stop`, `response.completed`, final Gemini event or error event, and no terminator.
Restored, the stream ends and its debit is in the ledger. Before the fix, a chat stream
whose client did not ask for `include_usage` (the openai SDK's default), a translated one,
and a failed one ended while Redis was stalled, their settle not yet begun."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import websockets

from gateway.devtools.demo_upstream import UpstreamControl
from tests.e2e.test_bedrock import AWS_ENV, BEDROCK_PROVIDER
from tests.e2e.test_translated_tools import PRICING
from tests.fault.tcp_proxy import CuttableProxy
from tests.support.factories import debits, tenant
from tests.support.fakes.realtime import RealtimeControl, beside_the_demo
from tests.support.harness import Gateway, gateway_with_providers

STALL_S = 0.9  # past the provider's whole stream (0.1 s); under the 1.5 s answer budget
PROVIDERS = (
    '[providers.gemini]\nwire = "gemini"\nbase_url = "{url}/v1beta"\napi_key = "g"\n'
    + BEDROCK_PROVIDER
)
HI = [{"role": "user", "content": "hi"}]
CHAT = {"model": "gpt-4o-mini", "messages": HI, "max_tokens": 50, "stream": True}
TRUNCATED = {"fail_after_chunks": 2, "fail_mode": "truncate"}
ERROR_EVENT = {"fail_after_chunks": 2, "fail_mode": "error_event"}


@dataclass(frozen=True)
class Shape:
    path: str
    body: dict[str, Any]
    ends: tuple[bytes, ...]  # what only the stream's end carries
    behaviour: dict[str, Any] = field(default_factory=dict)


SHAPES = {
    "chat": Shape("/v1/chat/completions", CHAT, (b"[DONE]",)),
    "chat_usage": Shape(
        "/v1/chat/completions",
        {**CHAT, "stream_options": {"include_usage": True}},
        (b"[DONE]",),
    ),
    "completions": Shape(
        "/v1/completions",
        {"model": "gpt-3.5-turbo-instruct", "prompt": "hi", "max_tokens": 50, "stream": True},
        (b"[DONE]",),
    ),
    "messages": Shape(
        "/v1/messages",
        {"model": "claude-haiku-4-5", "messages": HI, "max_tokens": 50, "stream": True},
        (b"message_delta", b"message_stop"),
    ),
    "responses": Shape(
        "/v1/responses",
        {"model": "gpt-4o-mini", "input": "hi", "stream": True},
        (b"response.completed",),
    ),
    "chat_to_gemini": Shape(
        "/v1/chat/completions", {**CHAT, "model": "gemini-pro"}, (b"[DONE]", b'finish_reason":"')
    ),
    "chat_to_converse": Shape(  # its finish reason comes before its usage, its end
        "/v1/chat/completions", {**CHAT, "model": "nova-bedrock"}, (b"[DONE]",)
    ),
    "gemini": Shape(
        "/v1beta/models/gemini-pro:streamGenerateContent?alt=sse",
        {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        (b"finishReason",),
    ),
    "chat_truncated": Shape("/v1/chat/completions", CHAT, (b"error", b"[DONE]"), TRUNCATED),
    "messages_error": Shape(
        "/v1/messages",
        {"model": "claude-haiku-4-5", "messages": HI, "max_tokens": 50, "stream": True},
        (b"error",),
        ERROR_EVENT,
    ),
}


@dataclass
class Stalled:
    gw: Gateway
    proxy: CuttableProxy
    providers: tuple[UpstreamControl, ...]  # OpenAI's and Anthropic's fake, Gemini's
    realtime: RealtimeControl


@pytest.fixture(scope="module")
async def stalled(dsn: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stalled]:
    proxy = CuttableProxy("127.0.0.1", 6379)
    await proxy.start()
    tmp_path: Path = tmp_path_factory.mktemp("stream_end")
    control = UpstreamControl()
    aws = pytest.MonkeyPatch()
    for name, value in AWS_ENV.items():
        aws.setenv(name, value)
    try:
        async with (
            beside_the_demo(control) as (url, realtime),
            gateway_with_providers(
                dsn,
                tmp_path,
                PRICING,  # gemini-pro and nova-bedrock
                PROVIDERS,
                REDIS_URL=proxy.redis_url,
                OPENAI_BASE_URL=url + "/v1",
                ANTHROPIC_BASE_URL=url,
            ) as (gw, gemini),
        ):
            yield Stalled(gw, proxy, (control, gemini.control), realtime)
            proxy.restore()
    finally:
        await proxy.close()
        aws.undo()


@dataclass
class Seen:
    wire: bytearray = field(default_factory=bytearray)
    ended: bool = False  # the terminator came


async def _read(gw: Gateway, key: str, shape: Shape, seen: Seen) -> None:
    headers = {"Authorization": f"Bearer {key}", "x-goog-api-key": key}
    if shape.behaviour:
        headers["x-fake-behaviour"] = orjson.dumps(shape.behaviour).decode()
    async with gw.http.post(gw.url + shape.path, json=shape.body, headers=headers) as r:
        assert r.status == 200, await r.text()
        async for chunk in r.content.iter_any():
            seen.wire += chunk
    seen.ended = True


async def _called(provider: UpstreamControl, hits: int) -> None:
    """Until the provider is called once more than `hits` times."""
    await provider.wait_until(lambda c: c.hits > hits)


@pytest.mark.timeout(480)
@pytest.mark.parametrize("name", list(SHAPES))
async def test_no_stream_ends_before_its_settle_is_sent(stalled: Stalled, name: str) -> None:
    gw, proxy, shape = stalled.gw, stalled.proxy, SHAPES[name]
    t = await tenant(gw, credit=1_000_000)
    for control in stalled.providers:
        control.delay_s, control.chunk_delay_s = 0.05, 0.02
    called = [asyncio.ensure_future(_called(c, c.hits)) for c in stalled.providers]
    seen = Seen()
    reading = asyncio.ensure_future(_read(gw, t.key, shape, seen))
    try:
        await asyncio.wait(called, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        for waiting in called:
            waiting.cancel()
        proxy.stall()
        await asyncio.sleep(STALL_S)
        wire = bytes(seen.wire)
        assert wire, "the stream's events came while Redis was stalled"
        assert not seen.ended, f"{name}: the terminator came before the settle was sent"
        early = [end for end in shape.ends if end in wire]
        assert not early, f"{name}: {early} reached the client before the settle was sent"
    finally:
        proxy.restore()
        async with asyncio.timeout(15):
            await reading
        await gw.stores().redis.connection_pool.disconnect()  # the stall dropped them
    assert seen.ended and any(end in seen.wire for end in shape.ends)
    await gw.settle_all()
    assert len(await debits(gw, t.account_id)) == 1


@pytest.mark.timeout(480)
async def test_no_realtime_response_is_done_before_its_settle_is_sent(stalled: Stalled) -> None:
    gw, proxy, fake = stalled.gw, stalled.proxy, stalled.realtime
    t = await tenant(gw, credit=1_000_000)
    fake.delay_s, asked = 0.01, len(fake.frames)
    url = gw.url.replace("http", "ws", 1) + "/v1/realtime?model=gpt-realtime"
    item = {"role": "user", "type": "message", "content": [{"type": "input_text", "text": "hi"}]}
    kinds: list[str] = []
    async with websockets.connect(
        url, additional_headers={"Authorization": f"Bearer {t.key}"}
    ) as ws:
        await ws.send(orjson.dumps({"type": "conversation.item.create", "item": item}).decode())
        await ws.send(orjson.dumps({"type": "response.create"}).decode())
        try:
            for _ in range(10_000):  # the fake's frames tell nothing else
                if any('"response.create"' in f for f in fake.frames[asked:]):
                    break
                await asyncio.sleep(0.001)
            proxy.stall()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STALL_S):
                    async for frame in ws:
                        kinds.append(orjson.loads(frame)["type"])
            assert any(kind.endswith(".delta") for kind in kinds), kinds
            assert "response.done" not in kinds, "response.done came before its settle was sent"
        finally:
            proxy.restore()
        async with asyncio.timeout(15):
            async for frame in ws:
                if orjson.loads(frame)["type"] == "response.done":
                    break
        await gw.stores().redis.connection_pool.disconnect()  # the stall dropped them
    await gw.settle_all()
    assert len(await debits(gw, t.account_id)) == 1
