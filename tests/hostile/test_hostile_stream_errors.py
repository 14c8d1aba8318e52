"""An error event inside a 200 stream reaches the client scrubbed as an error status's body
is (tests/hostile/test_hostile_provider_errors.py): without the internal addresses it names,
the secrets in its URLs' queries or the request headers it echoes, on each wire's stream
(OpenAI's chat, Anthropic's messages, Gemini's streamGenerateContent)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from tests.hostile.conftest import hostile_env
from tests.hostile.provider import HostileProvider, chunk, stream_answer
from tests.hostile.test_hostile_provider_errors import LEAKS
from tests.support.factories import tenant
from tests.support.harness import Gateway, running_gateway

HI = [{"role": "user", "content": "hi"}]
GOOGLE_KEY = "g-operator-key-0123456789abcdef"
ANTHROPIC_KEY = "ant-operator-key-0123456789abcdef"
WHERE = (
    "upstream http://10.1.2.3:8443/internal/v1 refused; metadata at "
    "http://169.254.169.254/latest/meta-data/ ; retry with "
    "https://files.example.com/up?token=s3cr3t-token-value&X-Amz-Signature=presigned-signature"
)


@pytest.fixture
async def ggw(dsn: str, hp: HostileProvider) -> AsyncIterator[Gateway]:
    """The hostile provider behind every wire, Gemini's native route included."""
    keys = {"GOOGLE_API_KEY": GOOGLE_KEY, "ANTHROPIC_API_KEY": ANTHROPIC_KEY}
    env = hostile_env(hp, GEMINI_BASE_URL=hp.url + "/v1beta", **keys)
    async with running_gateway(dsn, None, **env) as gateway:
        yield gateway
        await gateway.settle_all()


def _data(payload: Any, event: str | None = None) -> bytes:
    head = b"" if event is None else f"event: {event}\n".encode()
    return head + b"data: " + json.dumps(payload).encode() + b"\n\n"


def failing_stream(first: bytes, error: dict[str, Any], event: str | None = None) -> Any:
    """A 200 stream: one ordinary event, then an error naming the proxy it came through, a
    presigned URL and every header the gateway sent, as a careless provider might."""

    async def handle(request: web.Request) -> web.StreamResponse:
        echoed = dict(request.headers) | {"Cookie": "sid=cookie-session-value"}
        body = {**error, "error": {**error["error"], "message": WHERE, "headers": echoed}}
        return await stream_answer([first, _data(body, event)])(request)

    return handle


async def _read(gw: Gateway, key: str, path: str, body: dict[str, Any]) -> str:
    headers = {"Authorization": f"Bearer {key}"}
    async with gw.http.post(gw.url + path, json=body, headers=headers) as r:
        text = await r.text()
        assert r.status == 200, text
        return text


def _assert_scrubbed(text: str, hp: HostileProvider, credential: str) -> None:
    assert credential in str(hp.seen[-1].headers)  # the operator's, sent and echoed
    for leaked in (*LEAKS, credential):
        assert leaked not in text, (leaked, text)
    assert "[internal-url]" in text and "files.example.com" in text  # still says what failed


async def test_an_openai_stream_error_event_is_scrubbed(ggw: Gateway, hp: HostileProvider) -> None:
    t = await tenant(ggw, credit=1_000_000)
    first = _data(chunk("hel"))
    hp.script.append(failing_stream(first, {"error": {"type": "server_error"}}))
    body = {"model": "gpt-4o-mini", "messages": HI, "max_tokens": 10, "stream": True}
    text = await _read(ggw, t.key, "/v1/chat/completions", body)
    _assert_scrubbed(text, hp, "sk-operator-secret")
    assert "hel" in text  # the events before it pass unchanged


async def test_an_anthropic_stream_error_event_is_scrubbed(
    ggw: Gateway, hp: HostileProvider
) -> None:
    t = await tenant(ggw, credit=1_000_000)
    start = {"type": "message_start", "message": {"id": "m", "type": "message", "role":
             "assistant", "model": "claude-haiku-4-5", "content": [],
             "usage": {"input_tokens": 5, "output_tokens": 1}}}  # fmt: skip
    error = {"type": "error", "error": {"type": "overloaded_error"}}
    hp.script.append(failing_stream(_data(start, "message_start"), error, "error"))
    body = {"model": "claude-haiku-4-5", "messages": HI, "max_tokens": 10, "stream": True}
    text = await _read(ggw, t.key, "/v1/messages", body)
    _assert_scrubbed(text, hp, ANTHROPIC_KEY)
    assert "event: error" in text


async def test_a_gemini_stream_error_event_is_scrubbed(ggw: Gateway, hp: HostileProvider) -> None:
    t = await tenant(ggw, credit=1_000_000)
    first = {"candidates": [{"content": {"parts": [{"text": "hel"}], "role": "model"}}]}
    error = {"error": {"code": 500, "status": "INTERNAL"}}
    hp.script.append(failing_stream(_data(first), error))
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    path = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    text = await _read(ggw, t.key, path, body)
    _assert_scrubbed(text, hp, GOOGLE_KEY)
    assert "hel" in text
