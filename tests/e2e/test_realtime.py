"""The Realtime API through Meterway, against a fake provider speaking its events
(tests/fake_realtime.py), driven by the openai SDK's realtime client and plain websockets.

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

from tests.factories import balance, debits, held, ledger, openai_client, tenant
from tests.fake_realtime import RealtimeControl, fake_realtime
from tests.harness import Gateway, running_gateway

CREDIT = 10_000_000
# micro-USD per token, by kind
RATES = {"text_in": Fraction(4), "audio_in": Fraction(32), "text_out": Fraction(16), "audio_out": Fraction(64)}


@pytest.fixture
async def rt(dsn: str) -> AsyncIterator[tuple[Gateway, RealtimeControl]]:
    async with fake_realtime() as (url, control):
        async with running_gateway(dsn, OPENAI_BASE_URL=url) as gw:
            yield gw, control
            await gw.settle_all()


def cost(usage: dict[str, Any]) -> int:
    """One response's debit by hand: each part at its rate, rounded up once."""
    i, o = usage["input_token_details"], usage["output_token_details"]
    exact = (
        i["text_tokens"] * RATES["text_in"]
        + i["audio_tokens"] * RATES["audio_in"]
        + o["text_tokens"] * RATES["text_out"]
        + o["audio_tokens"] * RATES["audio_out"]
    ) / 1_000_000 * 1_000_000  # micros per token already
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
    async with openai_client(gw, t.key) as client:
        async with client.realtime.connect(model="gpt-realtime") as conn:
            await conn.session.update(session={"type": "realtime", "output_modalities": ["audio"]})
            await conn.conversation.item.create(
                item={"type": "message", "role": "user",
                      "content": [{"type": "input_text", "text": "Say hello to the test"}]}  # fmt: skip
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
