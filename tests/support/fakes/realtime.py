"""A fake of OpenAI's Realtime API: a local aiohttp WebSocket server speaking its GA events.

It keeps a conversation (text items, appended audio), detects the end of speech the way
server VAD does (a silent append after a spoken one: `speech_stopped`, `committed`, then a
response of its own), answers `response.create` with audio and text deltas and a
`response.done` whose usage counts the conversation as OpenAI does (user audio 10 tokens a
second, the model's 20), honours `response.cancel`, refuses a second active response, and
records every frame it received, so tests can check they arrived unchanged.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from gateway.devtools.demo_upstream import UpstreamControl
from gateway.devtools.demo_upstream.app import create_upstream_app
from tests.support.harness import listen

PCM_BYTES_PER_SECOND = 48_000
DELTA_AUDIO = b"\x01\x00" * 2400  # 0.05 s of 24 kHz 16-bit audio: one output audio token
WORDS = ["Hello", "from", "the", "fake", "realtime", "model"]


@dataclass
class RealtimeControl:
    deltas: int = 6  # audio deltas per response (each one output audio token)
    delay_s: float = 0.0  # between deltas
    start_delay_s: float = 0.0  # before response.created
    turn_after: int = 0  # >0: voice detection ends a turn after this many appends, any sound
    frames: list[str] = field(default_factory=list)  # every text frame received
    responses: list[dict[str, Any]] = field(default_factory=list)  # each response.done's
    transcripts: list[dict[str, Any]] = field(default_factory=list)  # each completed one's
    connections: int = 0
    headers: list[dict[str, str]] = field(default_factory=list)
    reject_next: int = 0  # refuse this many response.create events (invalid_request_error)


CONTROL = web.AppKey("control", RealtimeControl)


@dataclass
class _Conversation:
    text_tokens: int = 0
    audio_tokens: int = 0
    buffer: int = 0  # appended audio bytes not yet committed
    speaking: bool = False
    vad: bool = True
    transcriber: str | None = None  # input audio transcription's model
    transcription: bool = False  # an intent=transcription session: no responses
    appends: int = 0
    active: asyncio.Task[None] | None = None
    ids: Any = field(default_factory=lambda: itertools.count(1))


def _session(conv: _Conversation) -> dict[str, Any]:
    detection = (
        {"type": "server_vad", "create_response": not conv.transcription} if conv.vad else None
    )
    transcription = {"model": conv.transcriber} if conv.transcriber else None
    if conv.transcription:
        return {
            "type": "transcription",
            "object": "realtime.transcription_session",
            "id": "sess_t",
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "turn_detection": detection,
                    "transcription": transcription,
                }
            },
        }
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": "sess_fake",
        "model": "gpt-realtime",
        "output_modalities": ["audio"],
        "max_output_tokens": "inf",
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "turn_detection": detection,
                "transcription": transcription,
            },
            "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin"},
        },
    }


class _Session:
    def __init__(self, ws: web.WebSocketResponse, control: RealtimeControl) -> None:
        self.ws, self.control, self.conv = ws, control, _Conversation()
        self.events = itertools.count(1)

    async def send(self, event: dict[str, Any]) -> None:
        if not self.ws.closed:
            await self.ws.send_str(
                orjson.dumps({"event_id": f"ev_{next(self.events)}", **event}).decode()
            )

    async def handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "session.update":
            session = event.get("session") or {}
            audio_in = (session.get("audio") or {}).get("input") or {}
            if "turn_detection" in audio_in:
                self.conv.vad = audio_in["turn_detection"] is not None
            if "transcription" in audio_in:
                self.conv.transcriber = (audio_in["transcription"] or {}).get("model")
            await self.send({"type": "session.updated", "session": _session(self.conv)})
        elif kind == "conversation.item.create":
            await self._item(event.get("item") or {})
        elif kind == "input_audio_buffer.append":
            await self._append(base64.b64decode(event.get("audio", "")))
        elif kind == "input_audio_buffer.commit":
            await self._commit()
        elif kind == "response.create":
            await self._respond(event)
        elif kind == "response.cancel" and self.conv.active is not None:
            self.conv.active.cancel()

    async def _item(self, item: dict[str, Any]) -> None:
        for part in item.get("content") or ():
            if isinstance(part.get("text"), str):
                self.conv.text_tokens += len(part["text"].split())
            if isinstance(part.get("audio"), str):
                self.conv.audio_tokens += (
                    len(base64.b64decode(part["audio"])) * 10 // PCM_BYTES_PER_SECOND
                )
        await self.send({"type": "conversation.item.added", "item": {**item, "id": "item_x"}})

    async def _append(self, audio: bytes) -> None:
        self.conv.buffer += len(audio)
        self.conv.appends += 1
        silent = not audio.strip(b"\x00") or self.conv.appends == self.control.turn_after
        if not silent and not self.conv.speaking:
            self.conv.speaking = True
            await self.send({"type": "input_audio_buffer.speech_started", "audio_start_ms": 0})
        elif silent and self.conv.speaking and self.conv.vad:
            self.conv.speaking = False
            await self.send({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 1000})
            await self._commit()
            if not self.conv.transcription:
                await self._respond({})

    async def _commit(self) -> None:
        tokens = self.conv.buffer * 10 // PCM_BYTES_PER_SECOND
        self.conv.audio_tokens += tokens
        self.conv.buffer = 0
        item_id = f"item_{next(self.conv.ids)}"
        await self.send({"type": "input_audio_buffer.committed", "item_id": item_id})
        if self.conv.transcriber:
            await self._transcribe(item_id, tokens)

    async def _transcribe(self, item_id: str, audio_tokens: int) -> None:
        words = ["the", "quick", "brown", "fox"]
        for word in words:
            await self.send(
                {
                    "type": "conversation.item.input_audio_transcription.delta",
                    "item_id": item_id,
                    "content_index": 0,
                    "delta": word,
                }
            )
        usage = {
            "type": "tokens",
            "input_tokens": audio_tokens,
            "output_tokens": len(words),
            "total_tokens": audio_tokens + len(words),
            "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens},
        }
        self.control.transcripts.append({"item_id": item_id, "usage": usage})
        await self.send(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": item_id,
                "content_index": 0,
                "transcript": " ".join(words),
                "usage": usage,
            }
        )

    async def _respond(self, event: dict[str, Any]) -> None:
        if self.control.reject_next:
            self.control.reject_next -= 1
            error = {
                "type": "invalid_request_error",
                "code": "invalid_value",
                "message": "Invalid value for 'response.voice'.",
                "param": "response.voice",
                "event_id": event.get("event_id"),
            }
            await self.send({"type": "error", "error": error})
            return
        if self.conv.active is not None and not self.conv.active.done():
            error = {
                "type": "invalid_request_error",
                "code": "conversation_already_has_active_response",
                "message": "Conversation already has an active response in progress.",
                "event_id": event.get("event_id"),
            }
            await self.send({"type": "error", "error": error})
            return
        response_id = f"resp_{next(self.conv.ids)}"
        apart = (event.get("response") or {}).get("conversation") == "none"
        self.conv.active = asyncio.ensure_future(self._produce(response_id, apart))

    async def _produce(self, response_id: str, apart: bool = False) -> None:
        """A response; one `apart` (conversation "none") reads only its own short input
        and adds nothing to the conversation, as OpenAI's out-of-band responses."""
        audio = text = 0
        conv = self.conv if not apart else _Conversation(text_tokens=15)
        status = "completed"
        try:
            await asyncio.sleep(self.control.start_delay_s)
            await self.send(
                {
                    "type": "response.created",
                    "response": {"id": response_id, "status": "in_progress"},
                }
            )
            for n in range(self.control.deltas):
                await asyncio.sleep(self.control.delay_s)
                chunk = base64.b64encode(DELTA_AUDIO).decode()
                await self.send(
                    {
                        "type": "response.output_audio.delta",
                        "response_id": response_id,
                        "item_id": "item_r",
                        "output_index": 0,
                        "content_index": 0,
                        "delta": chunk,
                    }
                )
                audio += 1
                word = WORDS[n % len(WORDS)]
                await self.send(
                    {
                        "type": "response.output_audio_transcript.delta",
                        "response_id": response_id,
                        "item_id": "item_r",
                        "output_index": 0,
                        "content_index": 0,
                        "delta": word,
                    }
                )
                text += 1
        except asyncio.CancelledError:
            status = "cancelled"
        usage = {
            "total_tokens": conv.text_tokens + conv.audio_tokens + audio + text,
            "input_tokens": conv.text_tokens + conv.audio_tokens,
            "output_tokens": audio + text,
            "input_token_details": {
                "text_tokens": conv.text_tokens,
                "audio_tokens": conv.audio_tokens,
                "cached_tokens": 0,
                "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0},
            },
            "output_token_details": {"text_tokens": text, "audio_tokens": audio},
        }
        conv.text_tokens += text
        conv.audio_tokens += audio
        self.control.responses.append({"id": response_id, "status": status, "usage": usage})
        await self.send(
            {
                "type": "response.done",
                "response": {"id": response_id, "status": status, "usage": usage},
            }
        )


async def _realtime(request: web.Request) -> web.WebSocketResponse:
    control = request.app[CONTROL]
    control.connections += 1
    control.headers.append(dict(request.headers))
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    session = _Session(ws, control)
    session.conv.transcription = request.query.get("intent") == "transcription"
    await session.send({"type": "session.created", "session": _session(session.conv)})
    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            break
        control.frames.append(msg.data)
        await session.handle(orjson.loads(msg.data))
    if session.conv.active is not None:
        session.conv.active.cancel()
    return ws


def add_realtime(app: web.Application) -> RealtimeControl:
    """The fake's route on `app` (beside the demo provider's routes, for one base URL that
    serves both); its control."""
    control = app[CONTROL] = RealtimeControl()
    app.router.add_get("/v1/realtime", _realtime)
    return control


@asynccontextmanager
async def fake_realtime() -> AsyncIterator[tuple[str, RealtimeControl]]:
    """The fake on a free port: its base URL (what OPENAI_BASE_URL names, `/v1` included)."""
    app = web.Application()
    control = add_realtime(app)
    runner = web.AppRunner(app)
    await runner.setup()
    port = await listen(runner)
    try:
        yield f"http://127.0.0.1:{port}/v1", control
    finally:
        await runner.cleanup()


@asynccontextmanager
async def beside_the_demo(control: UpstreamControl) -> AsyncIterator[tuple[str, RealtimeControl]]:
    """The demo provider (gateway/devtools/demo_upstream, steered by `control`) with this
    fake beside it, on one address: every shape of answer from one OpenAI base URL (the
    address, `/v1` added) and one Anthropic one (the address)."""
    app = create_upstream_app(control)
    realtime = add_realtime(app)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    try:
        yield f"http://127.0.0.1:{await listen(runner)}", realtime
    finally:
        await runner.cleanup()
