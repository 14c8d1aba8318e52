"""Issue 56: a hostile Realtime provider that echoes the headers it was sent (the operator's
key among them), internal URLs and presigned secrets on every surface: a handshake refused,
or redirected with the key in the redirect's query (not followed), its `session.created`
and its `error` events. The client reads none of it, and every frame stays JSON."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson
import pytest
import websockets
from aiohttp import web
from websockets.exceptions import InvalidStatus

from tests.hostile.provider import HostileProvider
from tests.support.factories import tenant
from tests.support.harness import Gateway

OPERATOR_KEY = "sk-operator-secret"
LEAKS = (
    OPERATOR_KEY,
    "10.1.2.3",
    "/internal/v1",
    "s3cr3t-token-value",
    "presigned-signature",
    "cookie-session-value",
    "127.0.0.1",
)
ECHO = (
    "upstream http://10.1.2.3:8443/internal/v1 refused; retry with "
    "https://files.example.com/up?token=s3cr3t-token-value&X-Amz-Signature=presigned-signature"
)


def _sent(request: web.Request) -> dict[str, str]:
    return {str(k): v for k, v in request.headers.items()} | {"Cookie": "sid=cookie-session-value"}


async def redirect_with_headers(request: web.Request) -> web.StreamResponse:
    auth = quote(request.headers.get("Authorization", ""))
    raise web.HTTPTemporaryRedirect(f"/v1/internal/v1?auth={auth}&token=s3cr3t-token-value")


async def refuse_with_headers(request: web.Request) -> web.StreamResponse:
    body = {"error": {"message": ECHO, "type": "proxy_error"}, "request_headers": _sent(request)}
    return web.json_response(body, status=401)


async def echoing_session(request: web.Request) -> web.StreamResponse:
    """A session whose every event echoes what the gateway sent it."""
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    sent = _sent(request)
    echoed = orjson.dumps(sent).decode()
    session = {"id": "sess_h", "model": "gpt-realtime", "instructions": echoed}
    await ws.send_str(orjson.dumps({"type": "session.created", "session": session}).decode())
    async for msg in ws:
        error = {"type": "server_error", "message": f"{ECHO}; headers: {echoed}"}
        await ws.send_str(
            orjson.dumps({"type": "error", "error": error, "request_headers": sent}).decode()
        )
        await ws.send_str(f"not json {OPERATOR_KEY} http://10.1.2.3/internal/v1 {msg.data}")
        await ws.send_str(orjson.dumps({"type": "ping.done", "echo": sent}).decode())
    return ws


def _ws(gw: Gateway) -> str:
    return gw.url.replace("http", "ws", 1) + "/v1/realtime?model=gpt-realtime"


def _clean(text: str) -> None:
    for leaked in LEAKS:
        assert leaked not in text, (leaked, text)


async def test_a_refused_handshake_reaches_the_client_scrubbed(
    hgw: Gateway, hp: HostileProvider
) -> None:
    t = await tenant(hgw)
    hp.script += [redirect_with_headers, refuse_with_headers]
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(_ws(hgw), additional_headers={"Authorization": f"Bearer {t.key}"})
    answer = refused.value.response
    assert answer.status_code == 502
    text = answer.body.decode()
    _clean(text)
    assert orjson.loads(text)["error"]["type"] == "upstream_error"
    assert "redirect" in text
    assert len(hp.seen) == 1  # the redirect, with the key in its query, was not followed
    hp.script.clear()
    hp.script.append(refuse_with_headers)  # refused outright, echoing the key in its body
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(_ws(hgw), additional_headers={"Authorization": f"Bearer {t.key}"})
    assert OPERATOR_KEY in hp.seen[-1].headers["authorization"]  # what it echoed
    assert refused.value.response.status_code == 502
    _clean(refused.value.response.body.decode())


async def test_every_event_of_a_hostile_session_reaches_the_client_scrubbed(
    hgw: Gateway, hp: HostileProvider
) -> None:
    t = await tenant(hgw)
    hp.script.append(echoing_session)
    frames: list[Any] = []
    async with websockets.connect(
        _ws(hgw), additional_headers={"Authorization": f"Bearer {t.key}"}
    ) as ws:
        frames.append(await ws.recv())
        await ws.send(orjson.dumps({"type": "conversation.item.retrieve", "item_id": "i"}).decode())
        while len(frames) < 3:  # the unreadable frame between them is dropped
            frames.append(await ws.recv())
    assert OPERATOR_KEY in hp.seen[-1].headers["authorization"]  # what it echoed
    events = [orjson.loads(f) for f in frames]  # each still JSON
    assert [e["type"] for e in events] == ["session.created", "error", "ping.done"]
    for frame in frames:
        _clean(frame)
    assert "files.example.com" in events[1]["error"]["message"]  # still says what went wrong
