"""The relay holds a stream's usage event for its settlement, then adds the debit to it.

Driven with fakes of the provider's body and the client's response, the provider's bytes
split at every place (inside a field name, between CR and LF, inside the JSON), so the hold
never depends on how the bytes arrived.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import orjson
import pytest
from aiohttp import web

from billing.metering.tokens import TokenCounter
from billing.pricing import load_pricing
from gateway.config.settings import DEFAULT_CONFIG_DIR, PROVIDERS
from gateway.llm.cost_field import costed_answer, with_cost
from gateway.llm.endpoint import Endpoint
from gateway.llm.endpoints import CHAT, MESSAGES, RESPONSES
from gateway.llm.http1 import Answer
from gateway.llm.reading.calls import Call, read_call
from gateway.llm.relay import StreamLimits, StreamRelay
from gateway.llm.sse import SSEParser
from gateway.stores.records import KeyRecord

PRICING = load_pricing(DEFAULT_CONFIG_DIR / "pricing.toml", frozenset(PROVIDERS))
COUNTER = TokenCounter()
KEY = KeyRecord("k", "a", 0, "k", (), ())
HI = [{"role": "user", "content": "hi"}]


def _data(body: dict[str, Any], event: str | None = None) -> bytes:
    head = b"" if event is None else b"event: " + event.encode() + b"\n"
    return head + b"data: " + orjson.dumps(body) + b"\n\n"


def _chunk(delta: dict[str, Any]) -> dict[str, Any]:
    return {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta}]}


CHAT_USAGE = {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}
CHAT_HEAD = _data(_chunk({"content": "Hel"})) + _data(_chunk({"content": "lo"}))
CHAT_USAGE_EVENT = _data({"object": "chat.completion.chunk", "choices": [], "usage": CHAT_USAGE})
CHAT_TAIL = b"data: [DONE]\n\n"

MESSAGES_HEAD = _data(
    {"type": "message_start", "message": {"usage": {"input_tokens": 9}}}, "message_start"
) + _data({"type": "content_block_delta", "delta": {"type": "text_delta", "text": "Hi"}}, "x")
MESSAGES_USAGE_EVENT = _data(
    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}},
    "message_delta",
)
MESSAGES_TAIL = _data({"type": "message_stop"}, "message_stop")

DONE_RESPONSE = {
    "id": "resp_1",
    "object": "response",
    "status": "completed",
    "output": [{"type": "message", "content": [{"type": "output_text", "text": "Hi"}]}],
    "usage": {"input_tokens": 9, "output_tokens": 2, "total_tokens": 11},
}
RESPONSES_HEAD = _data(
    {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}},
    "response.created",
) + _data({"type": "response.output_text.delta", "delta": "Hi"}, "response.output_text.delta")
RESPONSES_USAGE_EVENT = _data(
    {"type": "response.completed", "response": DONE_RESPONSE}, "response.completed"
)


class _Body:
    """The provider's body, chunk by chunk; `readany` is all the relay reads of it."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def is_eof(self) -> bool:
        return True  # everything is buffered: no idle timer

    async def readany(self) -> bytes:
        return self.chunks.pop(0) if self.chunks else b""


class _Provider:
    def __init__(self, chunks: list[bytes]) -> None:
        self.content = _Body(chunks)
        self.closed = False

    def close(self) -> None:
        self.closed = True


class _Client:
    def __init__(self) -> None:
        self.sent = bytearray()
        self.ended = False

    async def write(self, data: bytes) -> None:
        self.sent += data

    async def write_eof(self) -> None:
        self.ended = True


def _call(endpoint: Endpoint, body: dict[str, Any]) -> Call:
    return read_call(endpoint, {**body, "stream": True}, KEY, PRICING, COUNTER)


def _relay(call: Call, chunks: list[bytes]) -> tuple[StreamRelay, _Client]:
    client = _Client()
    relay = StreamRelay(
        call,
        cast(Answer, _Provider(chunks)),
        cast(web.StreamResponse, client),
        COUNTER,
        StreamLimits(),
        asyncio.Event(),
    )
    return relay, client


def _splits(wire: bytes) -> list[list[bytes]]:
    """The stream in two pieces cut at every byte, and one byte at a time."""
    return [[wire[:i], wire[i:]] for i in range(1, len(wire))] + [
        [wire[i : i + 1] for i in range(len(wire))]
    ]


def _usage(wire: bytes, path: tuple[str, ...]) -> Any:
    events = SSEParser().feed(wire)
    found: Any = orjson.loads(events[0].data)
    for name in path:
        found = found[name]
    return found


CASES: list[tuple[Endpoint, dict[str, Any], bytes, bytes, bytes, tuple[str, ...]]] = [
    (CHAT, {"model": "gpt-4o-mini", "messages": HI, "stream_options": {"include_usage": True}},
     CHAT_HEAD, CHAT_USAGE_EVENT, CHAT_TAIL, ("usage",)),
    (MESSAGES, {"model": "claude-haiku-4-5", "max_tokens": 50, "messages": HI},
     MESSAGES_HEAD, MESSAGES_USAGE_EVENT, MESSAGES_TAIL, ("usage",)),
    (RESPONSES, {"model": "gpt-4o-mini", "input": "hi"},
     RESPONSES_HEAD, RESPONSES_USAGE_EVENT, b"", ("response", "usage")),
]  # fmt: skip


@pytest.mark.parametrize(("endpoint", "body", "head", "event", "tail", "path"), CASES)
async def test_usage_event_is_held_for_the_settlement_then_relayed_with_its_cost(
    endpoint: Endpoint,
    body: dict[str, Any],
    head: bytes,
    event: bytes,
    tail: bytes,
    path: tuple[str, ...],
) -> None:
    call = _call(endpoint, body)
    for chunks in _splits(head + event + tail):
        relay, client = _relay(call, chunks)
        outcome = await relay.run()
        assert outcome.billable and outcome.usage.source == "provider"
        assert bytes(client.sent) == head and not client.ended  # all before it, as it came
        assert not await relay.finish(1234)
        assert client.ended
        sent = bytes(client.sent)
        assert sent.startswith(head) and sent.endswith(tail)
        costed = sent[len(head) : len(sent) - len(tail)]
        assert _usage(costed, path) == {**_usage(event, path), "cost_micros": 1234}


async def test_a_pending_settlement_relays_the_usage_event_as_it_came() -> None:
    call = _call(CASES[1][0], CASES[1][1])
    relay, client = _relay(call, [MESSAGES_HEAD + MESSAGES_USAGE_EVENT + MESSAGES_TAIL])
    await relay.run()
    assert bytes(client.sent) == MESSAGES_HEAD and not client.ended
    await relay.finish(None)
    assert bytes(client.sent) == MESSAGES_HEAD + MESSAGES_USAGE_EVENT + MESSAGES_TAIL


async def test_a_usage_chunk_the_client_did_not_ask_for_is_hidden_and_done_held() -> None:
    """Issue 69: with no usage event to hold, `[DONE]` and the terminator wait for `finish`
    (the settle sent): a client never holds a whole stream whose settle a crash loses."""
    call = _call(CHAT, {"model": "gpt-4o-mini", "messages": HI})
    for chunks in _splits(CHAT_HEAD + CHAT_USAGE_EVENT + CHAT_TAIL)[::7]:
        relay, client = _relay(call, chunks)
        outcome = await relay.run()
        assert outcome.usage.source == "provider"
        assert bytes(client.sent) == CHAT_HEAD and not client.ended
        assert not await relay.finish(1234)
        assert bytes(client.sent) == CHAT_HEAD + CHAT_TAIL and client.ended


async def test_a_client_gone_before_the_usage_event_is_settled_from_it_too() -> None:
    """Nothing is written once the client left; the provider is still read to the end."""
    call = _call(CASES[1][0], CASES[1][1])
    relay, client = _relay(call, [MESSAGES_HEAD, MESSAGES_USAGE_EVENT, MESSAGES_TAIL])
    relay.gone.set()
    outcome = await relay.run()
    assert outcome.client_gone and outcome.usage.output_tokens == 2
    assert not await relay.finish(99)
    assert client.sent == b"" and not client.ended
    assert relay.tally.done  # message_stop was read


class _Stalling(_Body):
    """A body that sends its chunks, then nothing more, ever (`stalled` says so)."""

    def __init__(self, chunks: list[bytes]) -> None:
        super().__init__(chunks)
        self.stalled = asyncio.Event()

    async def readany(self) -> bytes:
        if self.chunks:
            return self.chunks.pop(0)
        self.stalled.set()
        await asyncio.Event().wait()
        return b""


async def test_a_stream_cancelled_mid_way_gets_no_end_after_its_settle() -> None:
    """Cancelled (the drain bound, a stop): settled from what was read, and the client's
    stream is left cut, never ended as if whole."""
    relay, client = _relay(_call(CHAT, {"model": "gpt-4o-mini", "messages": HI}), [])
    body = cast(_Provider, relay.upstream).content = _Stalling([CHAT_HEAD])
    running = asyncio.ensure_future(relay.run())
    await body.stalled.wait()
    running.cancel()
    outcome = await running
    assert outcome.cancelled and outcome.usage.output_tokens == 1  # "Hello"
    assert not await relay.finish(5)
    assert bytes(client.sent) == CHAT_HEAD and not client.ended


def test_cost_is_spliced_into_the_providers_bytes() -> None:
    pretty = b'{\n  "id": "x",\n  "usage": {\n    "prompt_tokens": 1\n  },\n  "n": 1.50\n}'
    assert costed_answer(pretty, 7) == (
        b'{\n  "id": "x",\n  "usage": {\n    "prompt_tokens": 1,"cost_micros":7\n  },\n'
        b'  "n": 1.50\n}'
    )
    assert costed_answer(b'{"usage": {}}', 7) == b'{"usage": {"cost_micros":7}}'


@pytest.mark.parametrize(
    "raw",
    [
        b'{"usage": null}',
        b'{"choices": [{"usage": {"a": 1}}]}',
        b'{"text": "\\"usage\\": {"}',
        b'{"a": {"usage": {"b": 1}}}',
        b"[]",
    ],
)
def test_no_top_level_usage_object_no_cost(raw: bytes) -> None:
    assert with_cost(raw, ("usage",), 7) is None
    assert costed_answer(raw, 7) == raw


def test_only_the_top_level_usage_gets_the_cost() -> None:
    raw = b'{"usage": {"a": 1}, "b": {"usage": {"c": 2}}, "t": "\\\\"}'
    assert orjson.loads(costed_answer(raw, 7)) == {
        "usage": {"a": 1, "cost_micros": 7},
        "b": {"usage": {"c": 2}},
        "t": "\\",
    }
