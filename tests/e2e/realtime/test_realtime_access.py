"""Who may open a Realtime session, and the limits on one: client secrets sent as the
subprotocol browsers use, scopes, models the catalogue cannot price, open sessions, frame
size and idle time. Every refusal comes before the upgrade, as an HTTP error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.e2e.realtime.test_realtime import until, ws_url
from tests.support.factories import held, tenant
from tests.support.fakes.realtime import RealtimeControl, fake_realtime
from tests.support.harness import Gateway, running_gateway


@pytest.fixture
async def rt(dsn: str) -> AsyncIterator[tuple[Gateway, RealtimeControl]]:
    async with (
        fake_realtime() as (url, control),
        running_gateway(
            dsn,
            OPENAI_BASE_URL=url,
            REALTIME_SESSIONS_PER_KEY="2",
            REALTIME_MAX_FRAME_BYTES="16384",
            REALTIME_IDLE_TIMEOUT_S="1",
        ) as gw,
    ):
        yield gw, control
        await gw.settle_all()


async def mint(gw: Gateway, key: str, body: Any = None) -> tuple[int, Any]:
    async with gw.http.post(
        gw.url + "/v1/realtime/client_secrets",
        json=body or {},
        headers={"Authorization": f"Bearer {key}"},
    ) as r:
        return r.status, await r.json()


def browser(secret: str) -> list[websockets.Subprotocol]:
    """What OpenAI's JavaScript SDK offers: `realtime` and the secret."""
    return [
        websockets.Subprotocol("realtime"),
        websockets.Subprotocol(f"openai-insecure-api-key.{secret}"),
    ]


async def test_a_browser_opens_a_session_with_a_minted_secret_and_never_the_key(
    rt: tuple[Gateway, RealtimeControl],
) -> None:
    gw, fake = rt
    t = await tenant(gw)
    status, minted = await mint(
        gw, t.key, {"session": {"type": "realtime", "model": "gpt-realtime"}}
    )
    assert status == 200, minted
    assert minted["value"].startswith("ek_mw_") and t.key not in minted["value"]
    async with websockets.connect(ws_url(gw), subprotocols=browser(minted["value"])) as ws:
        assert ws.subprotocol == "realtime"
        await until(ws, "session.created")
        await ws.send(orjson.dumps({"type": "response.create"}).decode())
        await until(ws, "response.done")
    # Meterway's provider key went upstream, not the secret
    assert all(minted["value"] not in str(h) for h in fake.headers)
    assert len(fake.responses) == 1


async def test_a_secret_opens_only_its_model_and_a_forged_one_nothing(
    rt: tuple[Gateway, RealtimeControl],
) -> None:
    gw, fake = rt
    t = await tenant(gw)
    _, minted = await mint(gw, t.key, {"session": {"model": "gpt-realtime-mini"}})
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(ws_url(gw, "gpt-realtime"), subprotocols=browser(minted["value"]))
    assert refused.value.response.status_code == 403
    head, _, mac = minted["value"].rpartition(".")
    forged = head[:-2] + ("AA" if head[-2:] != "AA" else "BB") + "." + mac
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(ws_url(gw, "gpt-realtime-mini"), subprotocols=browser(forged))
    assert refused.value.response.status_code == 401
    assert fake.connections == 0


async def test_a_key_without_the_realtime_scope_is_refused_before_the_upgrade(
    rt: tuple[Gateway, RealtimeControl],
) -> None:
    gw, fake = rt
    t = await tenant(gw, scopes=["chat"])
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(
            ws_url(gw), additional_headers={"Authorization": f"Bearer {t.key}"}
        )
    assert refused.value.response.status_code == 403
    status, body = await mint(gw, t.key)
    assert status == 403, body
    inference = await tenant(gw, scopes=["inference"])
    async with websockets.connect(
        ws_url(gw), additional_headers={"Authorization": f"Bearer {inference.key}"}
    ) as ws:
        await until(ws, "session.created")
    assert fake.connections == 1


async def test_a_model_the_catalogue_cannot_price_is_refused_by_name(
    rt: tuple[Gateway, RealtimeControl],
) -> None:
    gw, _ = rt
    t = await tenant(gw)
    async with gw.http.get(
        gw.url + "/v1/realtime?model=gpt-realtime-whisper",
        headers={"Authorization": f"Bearer {t.key}"},
    ) as r:
        body = await r.json()
    assert r.status == 404
    assert body["error"]["code"] == "model_not_found"
    assert "gpt-realtime-whisper" in body["error"]["message"]


async def test_open_sessions_are_limited_per_key(rt: tuple[Gateway, RealtimeControl]) -> None:
    gw, _ = rt
    t = await tenant(gw)
    auth = {"Authorization": f"Bearer {t.key}"}
    async with (
        websockets.connect(ws_url(gw), additional_headers=auth) as one,
        websockets.connect(ws_url(gw), additional_headers=auth) as two,
    ):
        await until(one, "session.created")
        await until(two, "session.created")
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(ws_url(gw), additional_headers=auth)
        assert refused.value.response.status_code == 429


async def test_a_frame_over_the_limit_and_an_idle_session_are_closed(
    rt: tuple[Gateway, RealtimeControl],
) -> None:
    gw, fake = rt
    t = await tenant(gw)
    auth = {"Authorization": f"Bearer {t.key}"}
    async with websockets.connect(ws_url(gw), additional_headers=auth) as ws:
        await until(ws, "session.created")
        await ws.send(
            orjson.dumps({"type": "input_audio_buffer.append", "audio": "A" * 40_000}).decode()
        )
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await until(ws, "never")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    assert fake.frames == []
    async with websockets.connect(ws_url(gw), additional_headers=auth) as ws:
        await until(ws, "session.created")
        with pytest.raises(websockets.ConnectionClosed):
            await until(ws, "never")  # nothing sent for REALTIME_IDLE_TIMEOUT_S
    assert await held(gw, t.account_id) == 0


def keyed(url: str, key: str) -> Any:
    return websockets.connect(url, additional_headers={"Authorization": f"Bearer {key}"})


def transcription_url(gw: Gateway) -> str:
    return gw.url.replace("http", "ws", 1) + "/v1/realtime?intent=transcription"


async def test_a_transcription_session_passes_the_pins_and_the_secrets_binding(
    rt: tuple[Gateway, RealtimeControl],
) -> None:
    """Issue 56: `intent=transcription` skipped the key's provider pin and a client secret's
    model; both now refuse it before the upgrade, as they refuse any session."""
    gw, fake = rt
    pinned = await tenant(gw, providers=["anthropic"])
    with pytest.raises(InvalidStatus) as refused:
        await keyed(transcription_url(gw), pinned.key)
    assert refused.value.response.status_code == 403
    t = await tenant(gw)
    _, minted = await mint(gw, t.key, {"session": {"model": "gpt-realtime-mini"}})
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(transcription_url(gw), subprotocols=browser(minted["value"]))
    assert refused.value.response.status_code == 403
    assert fake.connections == 0
    _, unbound = await mint(gw, t.key)  # a secret for any model opens a transcription session
    async with websockets.connect(
        transcription_url(gw), subprotocols=browser(unbound["value"])
    ) as ws:
        await until(ws, "session.created")
    assert fake.connections == 1


async def test_a_transcription_model_the_key_may_not_use_is_refused_when_used(
    rt: tuple[Gateway, RealtimeControl],
) -> None:
    gw, fake = rt
    t = await tenant(gw, models=["gpt-realtime"])
    audio = {"input": {"transcription": {"model": "gpt-4o-transcribe"}}}
    update = {"type": "session.update", "session": {"type": "transcription", "audio": audio}}
    async with keyed(transcription_url(gw), t.key) as ws:
        await until(ws, "session.created")
        await ws.send(orjson.dumps({**update, "event_id": "ev_u"}).decode())
        [*_, refused] = await until(ws, "error")
        await ws.send(orjson.dumps({"type": "input_audio_buffer.commit"}).decode())
        await until(ws, "input_audio_buffer.committed")
    assert refused["error"]["code"] == "permission_denied", refused
    assert refused["error"]["event_id"] == "ev_u"
    assert fake.frames == ['{"type":"input_audio_buffer.commit"}'] and fake.transcripts == []


async def test_frames_that_do_not_parse_or_name_no_accepted_type_are_refused_not_forwarded(
    rt: tuple[Gateway, RealtimeControl],
) -> None:
    """Issue 56: such frames were forwarded to the provider as they came."""
    gw, fake = rt
    t = await tenant(gw)
    bad: list[str | bytes] = [
        "not json",
        "[1, 2]",
        '{"no": "type"}',
        '{"type": 7}',
        '{"type": "session.delete", "event_id": "ev_x"}',
        b'{"type": "response.create"}',
    ]
    good = orjson.dumps({"type": "conversation.item.retrieve", "item_id": "item_x"}).decode()
    async with keyed(ws_url(gw), t.key) as ws:
        await until(ws, "session.created")
        for frame in bad:
            await ws.send(frame)
            [*_, refused] = await until(ws, "error")
            assert refused["error"]["code"] == "invalid_event", (frame, refused)
            named = "ev_x" if isinstance(frame, str) and "ev_x" in frame else None
            assert refused["error"]["event_id"] == named
        await ws.send(good)
        await ws.send(orjson.dumps({"type": "response.create"}).decode())
        await until(ws, "response.done")
    assert fake.frames == [good, '{"type":"response.create"}']
