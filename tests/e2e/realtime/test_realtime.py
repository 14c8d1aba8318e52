"""The Realtime API through Meterway, against a fake provider speaking its events
(tests/support/fakes/realtime.py), driven by the openai SDK's realtime client and plain websockets.

Each debit is worked out here from the usage the fake reported, at gpt-realtime's published
prices ($4 / $16 per 1M text tokens in / out, $32 / $64 audio in / out)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from fractions import Fraction
from typing import Any

import orjson
import pytest
import websockets

from tests.support.factories import (
    balance,
    debits,
    eventual_debits,
    held,
    ledger,
    openai_client,
    tenant,
)
from tests.support.fakes.realtime import RealtimeControl, fake_realtime
from tests.support.harness import Gateway, running_gateway

CREDIT = 10_000_000
# micro-USD per token, by kind
RATES = {
    "text_in": Fraction(4),
    "audio_in": Fraction(32),
    "text_out": Fraction(16),
    "audio_out": Fraction(64),
}


@pytest.fixture
async def rt(dsn: str) -> AsyncIterator[tuple[Gateway, RealtimeControl]]:
    async with fake_realtime() as (url, control), running_gateway(dsn, OPENAI_BASE_URL=url) as gw:
        yield gw, control
        await gw.settle_all()


def cost(usage: dict[str, Any]) -> int:
    """One response's debit by hand: each part at its rate, rounded up once."""
    i, o = usage["input_token_details"], usage["output_token_details"]
    exact: Fraction = (
        (
            i["text_tokens"] * RATES["text_in"]
            + i["audio_tokens"] * RATES["audio_in"]
            + o["text_tokens"] * RATES["text_out"]
            + o["audio_tokens"] * RATES["audio_out"]
        )
        / 1_000_000
        * 1_000_000
    )  # micros per token already
    return -(-exact.numerator // exact.denominator)


def ws_url(gw: Gateway, model: str = "gpt-realtime") -> str:
    return gw.url.replace("http", "ws", 1) + f"/v1/realtime?model={model}"


async def until(ws: Any, kind: str) -> list[dict[str, Any]]:
    seen = []
    while True:
        event = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        seen.append(event)
        if event["type"] == kind:
            return seen


async def test_a_text_turn_with_the_sdk_is_billed_what_the_provider_reports(
    rt: tuple[Gateway, RealtimeControl],
) -> None:
    gw, fake = rt
    t = await tenant(gw, credit=CREDIT)
    async with (
        openai_client(gw, t.key) as client,
        client.realtime.connect(model="gpt-realtime") as conn,
    ):
        await conn.session.update(session={"type": "realtime", "output_modalities": ["audio"]})
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Say hello to the test"}],
            }
        )
        await conn.response.create()
        kinds = []
        async for event in conn:
            kinds.append(event.type)
            if event.type == "response.done":
                break
    assert "response.output_audio.delta" in kinds
    [done] = fake.responses
    rows = await debits(gw, t.account_id)
    assert [-r["amount_micros"] for r in rows] == [cost(done["usage"])]
    assert await balance(gw, t.account_id) == CREDIT - cost(done["usage"])
    assert await held(gw, t.account_id) == 0


SPEECH = base64.b64encode(b"\x10\x20" * 24_000).decode()  # 1 s of (loud) 24 kHz audio
SILENCE = base64.b64encode(b"\x00\x00" * 12_000).decode()  # 0.5 s


async def test_a_voice_turn_the_provider_starts_itself_is_held_and_billed(
    rt: tuple[Gateway, RealtimeControl],
) -> None:
    """Server VAD: the client only appends audio; the provider ends the turn and answers
    on its own. The frames reach it unchanged."""
    gw, fake = rt
    t = await tenant(gw, credit=CREDIT)
    sent = [
        orjson.dumps({"type": "input_audio_buffer.append", "audio": SPEECH}).decode(),
        orjson.dumps({"type": "input_audio_buffer.append", "audio": SILENCE}).decode(),
    ]
    async with websockets.connect(
        ws_url(gw), additional_headers={"Authorization": f"Bearer {t.key}"}
    ) as ws:
        await until(ws, "session.created")
        for frame in sent:
            await ws.send(frame)
        seen = await until(ws, "response.done")
    assert [e["type"] for e in seen][:2] == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
    ]
    assert fake.frames == sent
    [done] = fake.responses
    assert done["usage"]["input_token_details"]["audio_tokens"] == 15  # 1.5 s at 10 a second
    rows = await debits(gw, t.account_id)
    assert [-r["amount_micros"] for r in rows] == [cost(done["usage"])]
    assert await balance(gw, t.account_id) == CREDIT - cost(done["usage"])


async def test_an_interrupted_response_is_billed_what_it_made(
    rt: tuple[Gateway, RealtimeControl],
) -> None:
    gw, fake = rt
    fake.deltas, fake.delay_s = 50, 0.02
    t = await tenant(gw, credit=CREDIT)
    async with websockets.connect(
        ws_url(gw), additional_headers={"Authorization": f"Bearer {t.key}"}
    ) as ws:
        await until(ws, "session.created")
        await ws.send(orjson.dumps({"type": "response.create"}).decode())
        await until(ws, "response.output_audio.delta")
        await ws.send(orjson.dumps({"type": "response.cancel"}).decode())
        seen = await until(ws, "response.done")
    assert seen[-1]["response"]["status"] == "cancelled"
    [done] = fake.responses
    assert 0 < done["usage"]["output_token_details"]["audio_tokens"] < 50
    rows = await debits(gw, t.account_id)
    assert [-r["amount_micros"] for r in rows] == [cost(done["usage"])]
    assert await held(gw, t.account_id) == 0


async def test_a_client_that_drops_mid_response_is_billed_what_the_provider_reports(
    rt: tuple[Gateway, RealtimeControl],
) -> None:
    gw, fake = rt
    fake.deltas, fake.delay_s = 20, 0.02
    t = await tenant(gw, credit=CREDIT)
    ws = await websockets.connect(
        ws_url(gw), additional_headers={"Authorization": f"Bearer {t.key}"}
    )
    await until(ws, "session.created")
    await ws.send(orjson.dumps({"type": "response.create"}).decode())
    await until(ws, "response.output_audio.delta")
    ws.transport.abort()  # gone, no close frame
    for _ in range(200):
        if fake.responses:
            break
        await asyncio.sleep(0.02)
    [done] = fake.responses
    assert done["status"] == "completed"  # the provider was read to its end
    async with asyncio.timeout(10):
        rows = await eventual_debits(gw, t.account_id)
    assert [-r["amount_micros"] for r in rows] == [cost(done["usage"])]
    entries = await ledger(gw, t.account_id)
    assert sum(r["amount_micros"] for r in entries) == await balance(gw, t.account_id)
    assert await held(gw, t.account_id) == 0


async def test_a_client_gone_before_its_response_started_is_still_billed_for_it(
    rt: tuple[Gateway, RealtimeControl],
) -> None:
    """The response.create was forwarded: the provider makes (and bills) the response even
    though nobody is left to hear it."""
    gw, fake = rt
    fake.start_delay_s = 0.3
    t = await tenant(gw, credit=CREDIT)
    ws = await websockets.connect(
        ws_url(gw), additional_headers={"Authorization": f"Bearer {t.key}"}
    )
    await until(ws, "session.created")
    await ws.send(orjson.dumps({"type": "response.create"}).decode())
    await asyncio.sleep(0.05)
    ws.transport.abort()
    async with asyncio.timeout(10):
        rows = await eventual_debits(gw, t.account_id)
    [done] = fake.responses
    assert [-r["amount_micros"] for r in rows] == [cost(done["usage"])]
    assert await held(gw, t.account_id) == 0


async def test_running_out_of_credit_mid_session_is_an_error_event_then_a_close(
    rt: tuple[Gateway, RealtimeControl],
) -> None:
    """The first response's worst case fits, the second's does not once the first is paid."""
    gw, fake = rt
    first_hold = (
        4_096 * 64 + 1
    )  # micros: its output cap (4,096 a response) at the audio rate, and a little input
    t = await tenant(gw, credit=first_hold + 300, on_insufficient="refuse")
    async with websockets.connect(
        ws_url(gw), additional_headers={"Authorization": f"Bearer {t.key}"}
    ) as ws:
        await until(ws, "session.created")
        await ws.send(orjson.dumps({"type": "response.create"}).decode())
        await until(ws, "response.done")
        await ws.send(orjson.dumps({"type": "response.create", "event_id": "ev_2"}).decode())
        [error] = await until(ws, "error")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert error["error"]["type"] == "billing_required"
    assert error["error"]["event_id"] == "ev_2"
    # the same next step an HTTP call refused for money is given
    async with gw.http.post(
        gw.url + "/v1/chat/completions",
        json={
            "model": "o1",
            "messages": [{"role": "user", "content": "hi"}],
            "max_completion_tokens": 100_000,
        },
        headers={"Authorization": f"Bearer {t.key}"},
    ) as r:
        assert r.status == 402
        http_next = (await r.json())["error"]["next"]
    ours = error["error"]["next"]
    assert {k: v for k, v in ours.items() if k != "reason"} == {
        k: v for k, v in http_next.items() if k != "reason"
    }  # the reason names each request's own worst case
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
    assert len(fake.responses) == 1  # the refused response never reached the provider
    rows = await debits(gw, t.account_id)
    assert [-r["amount_micros"] for r in rows] == [cost(fake.responses[0]["usage"])]
    assert await held(gw, t.account_id) == 0


async def test_a_client_flooding_response_create_is_never_held_beyond_its_balance(
    rt: tuple[Gateway, RealtimeControl],
) -> None:
    gw, fake = rt
    fake.deltas, fake.delay_s = 3, 0.01
    t = await tenant(gw, credit=CREDIT)
    async with websockets.connect(
        ws_url(gw), additional_headers={"Authorization": f"Bearer {t.key}"}
    ) as ws:
        await until(ws, "session.created")
        for n in range(200):
            await ws.send(orjson.dumps({"type": "response.create", "event_id": f"ev_{n}"}).decode())
            assert await held(gw, t.account_id) <= CREDIT
        for _ in range(400):
            if fake.responses and not await held(gw, t.account_id):
                break
            await asyncio.sleep(0.05)
    rows = await debits(gw, t.account_id)
    # every response the provider made is billed, and nothing else
    assert sorted(-r["amount_micros"] for r in rows) == sorted(
        cost(d["usage"]) for d in fake.responses
    )
    assert await balance(gw, t.account_id) == CREDIT + sum(r["amount_micros"] for r in rows)
    assert await held(gw, t.account_id) == 0


GPT_4O_TRANSCRIBE = {"audio_in": Fraction(6), "text_out": Fraction(10)}  # $ per 1M tokens


def transcript_cost(usage: dict[str, Any]) -> int:
    audio: int = usage["input_token_details"]["audio_tokens"]
    exact: Fraction = audio * GPT_4O_TRANSCRIBE["audio_in"] + (
        usage["output_tokens"] * GPT_4O_TRANSCRIBE["text_out"]
    )
    return -(-exact.numerator // exact.denominator)


async def test_a_transcription_session_is_billed_per_completed_transcript(
    rt: tuple[Gateway, RealtimeControl],
) -> None:
    gw, fake = rt
    t = await tenant(gw, credit=CREDIT)
    url = gw.url.replace("http", "ws", 1) + "/v1/realtime?intent=transcription"
    update = {
        "type": "session.update",
        "session": {
            "type": "transcription",
            "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}},
        },
    }
    async with websockets.connect(
        url, additional_headers={"Authorization": f"Bearer {t.key}"}
    ) as ws:
        await until(ws, "session.created")
        await ws.send(orjson.dumps(update).decode())
        await until(ws, "session.updated")
        for _ in range(2):
            await ws.send(
                orjson.dumps({"type": "input_audio_buffer.append", "audio": SPEECH}).decode()
            )
            await ws.send(
                orjson.dumps({"type": "input_audio_buffer.append", "audio": SILENCE}).decode()
            )
            await until(ws, "conversation.item.input_audio_transcription.completed")
        await ws.send(orjson.dumps({"type": "response.create", "event_id": "ev_r"}).decode())
        [refused] = await until(ws, "error")
    assert refused["error"]["event_id"] == "ev_r"
    assert fake.responses == [] and len(fake.transcripts) == 2
    rows = await debits(gw, t.account_id)
    expected = sorted(transcript_cost(d["usage"]) for d in fake.transcripts)
    assert sorted(-r["amount_micros"] for r in rows) == expected
    assert {r["model"] for r in rows} == {"gpt-4o-transcribe"}
    assert await balance(gw, t.account_id) == CREDIT - sum(expected)
    assert await held(gw, t.account_id) == 0
