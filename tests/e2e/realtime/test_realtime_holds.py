"""Realtime holds that cannot be dodged: a response is held for what it will read (the
conversation, which only grows, and its own instructions and input), a response.create the
provider refuses gives its hold back, and a response in flight when the session is refused
for money is read to its end and billed from its usage."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import websockets

from tests.e2e.realtime import test_realtime
from tests.e2e.realtime.test_realtime import until, ws_url
from tests.support.factories import eventual_debits, held, tenant
from tests.support.fakes.realtime import RealtimeControl
from tests.support.harness import Gateway

rt = test_realtime.rt  # the fake provider and a gateway in front of it


def _send(event: dict[str, Any]) -> str:
    return orjson.dumps(event).decode()


def _item(words: int) -> str:
    text = " ".join(["word"] * words)
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    return _send({"type": "conversation.item.create", "item": item})


async def _held_while_pending(gw: Gateway, control: RealtimeControl, account_id: str) -> int:
    """The hold of the response just asked for, read while the provider still waits."""
    for _ in range(500):
        if '"response.create"' in "".join(control.frames[-1:]):
            return await held(gw, account_id)
        await asyncio.sleep(0.02)
    raise AssertionError("the provider never received the response.create")


async def test_an_out_of_band_response_does_not_shrink_the_next_hold(
    rt: tuple[Gateway, RealtimeControl],
) -> None:
    """An out-of-band response reset the conversation's known size to its own ~15 tokens,
    so the next in-band response was held as if the conversation were empty."""
    gw, control = rt
    t = await tenant(gw)
    headers = {"Authorization": f"Bearer {t.key}"}
    async with websockets.connect(ws_url(gw), additional_headers=headers) as ws:
        await until(ws, "session.created")
        await ws.send(_item(5_000))
        await ws.send(_send({"type": "response.create", "event_id": "first"}))
        await until(ws, "response.done")
        control.start_delay_s = 1.0
        await ws.send(_send({"type": "response.create", "event_id": "first-again"}))
        before = await _held_while_pending(gw, control, t.account_id)
        await until(ws, "response.done")
        control.start_delay_s = 0.0
        apart = {"type": "response.create", "response": {"conversation": "none"}}
        await ws.send(_send(apart))
        await until(ws, "response.done")
        control.start_delay_s = 1.0
        await ws.send(_send({"type": "response.create", "event_id": "after"}))
        after = await _held_while_pending(gw, control, t.account_id)
        await until(ws, "response.done")
    assert after >= before > 0, (before, after)


async def test_a_response_creates_own_instructions_are_held(
    rt: tuple[Gateway, RealtimeControl],
) -> None:
    """200 KB of instructions on a response.create were admitted on a hold for an empty
    conversation: at the audio input rate they are held, and a balance that cannot cover
    them is refused before anything is forwarded."""
    gw, control = rt
    t = await tenant(gw, credit=3_000_000, on_insufficient="refuse")  # fits a response, not 200 KB
    headers = {"Authorization": f"Bearer {t.key}"}
    async with websockets.connect(ws_url(gw), additional_headers=headers) as ws:
        await until(ws, "session.created")
        huge = {"type": "response.create", "event_id": "big"}
        huge["response"] = {"instructions": "x" * 200_000}  # type: ignore[assignment]
        await ws.send(_send(huge))
        [error] = await until(ws, "error")
    assert error["error"]["type"] == "billing_required" and error["error"]["event_id"] == "big"
    assert not any('"instructions"' in f for f in control.frames)  # never forwarded
    assert await held(gw, t.account_id) == 0


async def test_a_refused_response_create_gives_its_hold_back(
    rt: tuple[Gateway, RealtimeControl],
) -> None:
    """A response.create the provider rejected kept its hold for the rest of the session,
    and every later response.create was answered as busy."""
    gw, control = rt
    t = await tenant(gw)
    control.reject_next = 1
    headers = {"Authorization": f"Bearer {t.key}"}
    async with websockets.connect(ws_url(gw), additional_headers=headers) as ws:
        await until(ws, "session.created")
        await ws.send(_send({"type": "response.create", "event_id": "bad"}))
        [error] = await until(ws, "error")
        assert error["error"]["event_id"] == "bad"
        for _ in range(100):  # the release is a task of its own
            if not await held(gw, t.account_id):
                break
            await asyncio.sleep(0.05)
        await ws.send(_send({"type": "response.create", "event_id": "good"}))
        seen = await until(ws, "response.done")
    assert not [e for e in seen if e["type"] == "error"], seen  # not "busy"
    assert len(await eventual_debits(gw, t.account_id)) == 1
