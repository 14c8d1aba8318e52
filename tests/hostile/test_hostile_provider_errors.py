"""Issue 45, item 10: a hostile provider's error body reaches the client without the internal
addresses it names, the secrets in its URLs' queries, or the request headers it echoes (the
operator's credential among them), whether passed through (4xx) or wrapped (5xx, 502)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from tests.hostile.provider import HostileProvider
from tests.support.factories import tenant
from tests.support.harness import Gateway

MESSAGES = [{"role": "user", "content": "hi"}]
LEAKS = (
    "10.1.2.3",
    "/internal/v1",
    "169.254.169.254",
    "s3cr3t-token-value",
    "presigned-signature",
    "sk-operator-secret",
    "cookie-session-value",
    "x-fake-behaviour-value",
)


def echoing_error(status: int) -> Any:
    """An error that names the proxy it came through, a presigned URL, and every header the
    gateway sent it, as a careless provider or a proxy in front of it might."""

    async def handle(request: web.Request) -> web.StreamResponse:
        sent = dict(request.headers) | {"Cookie": "sid=cookie-session-value"}
        message = (
            "upstream http://10.1.2.3:8443/internal/v1 refused; metadata at "
            "http://169.254.169.254/latest/meta-data/ ; retry with "
            "https://files.example.com/up?token=s3cr3t-token-value"
            "&X-Amz-Signature=presigned-signature"
        )
        body = {"error": {"message": message, "type": "proxy_error"}, "request_headers": sent}
        return web.json_response(body, status=status)

    return handle


async def _chat(gw: Gateway, key: str) -> tuple[int, str]:
    payload = {"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": 10}
    headers = {"Authorization": f"Bearer {key}", "x-fake-behaviour": "x-fake-behaviour-value"}
    async with gw.http.post(gw.url + "/v1/chat/completions", json=payload, headers=headers) as r:
        return r.status, await r.text()


async def test_error_bodies_lose_internal_urls_query_secrets_and_echoed_headers(
    hgw: Gateway, hp: HostileProvider
) -> None:
    t = await tenant(hgw, credit=1_000_000)
    hp.script += [echoing_error(400), echoing_error(503)]
    for expected in (400, 502):
        status, text = await _chat(hgw, t.key)
        assert status == expected, text
        seen_authorization = hp.seen[-1].headers["authorization"]
        assert "sk-operator-secret" in seen_authorization  # it was sent, and echoed
        for leaked in LEAKS:
            assert leaked not in text, (expected, leaked, text)
        doc = json.loads(text)  # still JSON, and still says what went wrong
        assert "[internal-url]" in text and "files.example.com" in text
        assert "error" in doc


async def test_a_token_count_error_is_scrubbed_too(hgw: Gateway, hp: HostileProvider) -> None:
    """The other routes that pass a provider's error on (token counts, responses, batches)
    go through the same scrubbing; token counts stand for them here."""
    t = await tenant(hgw, credit=1_000_000)
    hp.script.append(echoing_error(400))
    body = {"model": "claude-haiku-4-5", "messages": MESSAGES}
    headers = {"Authorization": f"Bearer {t.key}", "x-fake-behaviour": "x-fake-behaviour-value"}
    url = hgw.url + "/v1/messages/count_tokens"
    async with hgw.http.post(url, json=body, headers=headers) as r:
        status, text = r.status, await r.text()
    assert status == 400 and hp.seen[-1].path == "/v1/messages/count_tokens", text
    for leaked in LEAKS:
        assert leaked not in text, (leaked, text)
    assert "[internal-url]" in text
