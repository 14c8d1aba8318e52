"""One Realtime session's relay: events both ways, each response held before it may start
and settled when it ends (services/metering/realtime_meter.py).

A client's frame is forwarded unchanged only if it is a JSON event of a type
llm/reading/realtime_events.py's REALTIME_CLIENT_EVENTS lists and the key may send (`may_send` over
that type's declared action); any other is answered with an `error` event. A provider's
event reaches the client through the one scrubber (llm/scrub.py), as chat's error events
do. The client's frames are read in order;
a `response.create` is forwarded only once its hold is taken, and voice detection's turn is
held at `input_audio_buffer.speech_stopped`, before the provider's response events are
relayed. A refusal is sent as an `error` event with the HTTP refusal's body, then both
sockets close. A client that leaves stops the writing, not the reading: the provider is read
on until every held response is done (at most STREAM_DRAIN_TIMEOUT_S), and a response it
never finished is billed what it produced.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson
from aiohttp import WSMsgType, web

from billing.authority import may_send
from billing.metering.realtime import audio_tokens, base64_bytes, output_cap, response_usage
from billing.pricing import ModelPrice
from gateway.errors import MeterwayError
from gateway.llm.reading.realtime_events import (
    AUDIO_DELTAS,
    CONTENT_PREFIXES,
    REALTIME_CLIENT_EVENTS,
    TEXT_DELTAS,
    TRANSCRIBED,
    TRANSCRIPT_FAILED,
    SessionShape,
    appended_tokens,
    client_event,
    client_tokens,
    delta_length,
    in_band,
    response_cap,
    response_own_tokens,
    transcription_model,
)
from gateway.llm.scrub import ClientScrubber
from gateway.services.metering.realtime_meter import MAX_HOLDS, SessionMeter

log = logging.getLogger("meterway.realtime")
Upstream = aiohttp.ClientWebSocketResponse


def error_event(error: MeterwayError, event_id: object = None) -> str:
    """The Realtime `error` event carrying `error`'s HTTP body (its next step included)."""
    body = error.openai_body()
    body["error"]["event_id"] = event_id
    return orjson.dumps({"type": "error", "event_id": None, **body}).decode()


class Relay:
    def __init__(
        self,
        client: web.WebSocketResponse,
        upstream: Upstream,
        session: SessionMeter,
        idle_s: float,
        drain_s: float,
        transcriber: Callable[[str], ModelPrice],
        scrubber: ClientScrubber,
    ) -> None:
        self.client, self.upstream, self.session = client, upstream, session
        self.scrubber = scrubber  # every provider frame passes it before the client reads it
        self.idle_s, self.drain_s = idle_s, drain_s
        self.shape = SessionShape()
        self.transcriber = transcriber  # a transcription model's price, checked for the key
        self.buffered = 0  # audio tokens appended since the last commit
        self.client_gone = False
        self.refused = False
        self.last = asyncio.get_running_loop().time()  # the last frame either way

    async def run(self) -> None:
        """Relay until either side closes; then drain held responses and close both."""
        upward = asyncio.ensure_future(self._from_client())
        downward = asyncio.ensure_future(self._from_provider())
        try:
            await asyncio.wait({upward, downward}, return_when=asyncio.FIRST_COMPLETED)
            self.client_gone = upward.done()
            if self.client_gone and not downward.done() and self.session.pending:
                await asyncio.wait({downward}, timeout=self.drain_s)  # read on for usage
        finally:
            for task in (upward, downward):
                task.cancel()
            await asyncio.gather(upward, downward, return_exceptions=True)
            await asyncio.shield(self.session.close())
            await self.upstream.close()
            await self.client.close()

    async def _refuse(self, error: MeterwayError, event_id: object = None) -> bool:
        """Out of credit or quota: the client is told why, as HTTP would, and closed. A
        response already in flight is read on to its `response.done` (within the drain) and
        billed from its usage, at the rates it was held at; abandoning it billed only what
        had been relayed, its audio as text. True: the provider is still read."""
        self.refused = True
        await self._to_client(error_event(error, event_id))
        self.client_gone = True
        await self.client.close()
        if self.session.bound:
            return True
        await self.upstream.close()
        return False

    async def _receive(self, ws: web.WebSocketResponse | Upstream) -> aiohttp.WSMessage:
        """The next frame from `ws`; TimeoutError once neither side sent one for idle_s."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                msg = await ws.receive(timeout=self.idle_s)
            except TimeoutError:
                if loop.time() - self.last < self.idle_s:
                    continue
                raise
            self.last = loop.time()
            return msg

    async def _from_client(self) -> None:
        await self._pump(self.client, self._client_text, self._client_binary)

    async def _client_binary(self, data: bytes) -> None:
        await self._to_client(_error(None, INVALID_EVENT, "Realtime events are text frames."))

    async def _pump(
        self,
        ws: web.WebSocketResponse | Upstream,
        text: Callable[[str], Awaitable[bool]],
        binary: Callable[[bytes], Awaitable[None]],
    ) -> None:
        """Frames from `ws` until it closes (a frame too large among the reasons), `text`
        says stop, or the client left and nothing held is left to read for."""
        while True:
            msg = await self._receive(ws)
            if msg.type == WSMsgType.TEXT:
                if not await text(msg.data):
                    return
            elif msg.type == WSMsgType.BINARY:
                await binary(msg.data)
            else:
                return
            if self.client_gone and not self.session.pending:
                return

    async def _client_text(self, data: str) -> bool:
        """A client's event: refused here (an `error` event; the session goes on) unless it
        parses as an event type REALTIME_CLIENT_EVENTS lists and the key may send it."""
        event, why, event_id = client_event(data)
        if event is None:
            await self._to_client(_error(event_id, INVALID_EVENT, why))
            return True
        action = REALTIME_CLIENT_EVENTS[event["type"]]
        if not may_send(self.session.key.scopes, action):
            text = f"This API key lacks the '{action.scope}' scope for '{event['type']}'."
            await self._to_client(_error(event_id, "permission_denied", text))
            return True
        if not await self._may_transcribe(event):
            return True
        self.session.conversation.add(client_tokens(event, len(data), self.shape))
        self.buffered += appended_tokens(event, self.shape)
        if event["type"] == "input_audio_buffer.clear":
            self.buffered = 0
        if event["type"] == "response.create" and not await self._hold_response(event, len(data)):
            return not self.refused
        await self.upstream.send_str(data)
        return True

    async def _may_transcribe(self, event: dict[str, Any]) -> bool:
        """A session update naming a transcription model the key (or its client secret) may
        not use is answered with the refusal and not forwarded; the session goes on."""
        model = transcription_model(event.get("session")) if event["type"] in UPDATES else None
        if not model:
            return True
        try:
            self.transcriber(model)
        except MeterwayError as exc:
            await self._to_client(error_event(exc, event.get("event_id")))
            return False
        return True

    async def _hold_response(self, event: dict[str, Any], raw_length: int) -> bool:
        """A client's response.create: held, or answered here (one response at a time, as the
        provider allows; a refusal closes the session). True: forward it."""
        session = self.session
        if session.price is None:
            await self._to_client(_error(event.get("event_id"), *TRANSCRIPTION_ONLY))
            return False
        if session.holds:  # one made or about to be: its response.create may still start one
            await self._to_client(_error(event.get("event_id"), *BUSY))
            return False
        cap = output_cap(response_cap(event, self.shape), session.price.max_output_tokens)
        own = response_own_tokens(event, raw_length, self.shape)
        event_id = event.get("event_id")
        event_id = event_id if isinstance(event_id, str) else ""
        try:
            await session.hold_next(
                cap, own, in_band=in_band(event), event_id=event_id, created=True
            )
        except MeterwayError as exc:
            await self._refuse(exc, event_id)
            return False
        return True

    async def _from_provider(self) -> None:
        await self._pump(self.upstream, self._provider_text, self._provider_binary)

    async def _provider_binary(self, data: bytes) -> None:
        log.warning("binary provider frame dropped in %s", self.session.request_id)

    async def _provider_text(self, data: str) -> bool:
        """A provider's event, scrubbed (the conversation's events of the operator's secrets,
        every other event as chat's error events are). A frame that is not a JSON object is
        dropped: nothing in it can be metered, nor scrubbed by its shape."""
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            event = None
        if not isinstance(event, dict):
            log.warning("unreadable provider frame dropped in %s", self.session.request_id)
            return True
        kind = event.get("type")
        if isinstance(kind, str) and not await self._meter(kind, event):
            return False
        content = isinstance(kind, str) and kind.startswith(CONTENT_PREFIXES)
        await self._to_client((self.scrubber.secrets_out if content else self.scrubber.text)(data))
        return True

    async def _meter(self, kind: str, event: dict[str, Any]) -> bool:
        session = self.session
        if kind in AUDIO_DELTAS:
            tokens = audio_tokens(base64_bytes(delta_length(event)), self.shape.output_format)
            session.produced(str(event.get("response_id")), audio_tokens=tokens)
        elif kind in TEXT_DELTAS:
            delta = event.get("delta")
            size = len(delta.encode()) if isinstance(delta, str) else 0
            session.produced(str(event.get("response_id")), text_bytes=size)
        elif kind in ("session.created", "session.updated"):
            self.shape.update(event.get("session"))
        elif kind == "input_audio_buffer.speech_stopped" and self.shape.vad_responds:
            return await self._hold_turn()
        elif kind in ("response.created", "response.done", "error"):
            return await self._response_event(kind, event)
        elif kind == "input_audio_buffer.committed":
            return await self._hold_transcript(str(event.get("item_id")))
        elif kind == TRANSCRIBED:
            await session.transcribed(str(event.get("item_id")), response_usage(event.get("usage")))
        elif kind == TRANSCRIPT_FAILED:
            session.transcript_failed(str(event.get("item_id")))
        return True

    async def _response_event(self, kind: str, event: dict[str, Any]) -> bool:
        """A response starts (it takes a hold), ends (it is settled), or the provider
        refused a response.create: its hold is given back, so it blocks no later one. The
        error names the event (`error.event_id`); an event sent without an id is matched
        when it is the one held and unstarted (a response that then starts anyway finds no
        hold, and is cancelled unrelayed)."""
        if kind == "response.created":
            return await self._bind(event)
        if kind == "response.done":
            response = event.get("response") or {}
            usage = response_usage(response.get("usage"))
            await self.session.done(str(response.get("id")), usage)
            return True
        refused = (event.get("error") or {}).get("event_id")
        self.session.rejected(refused if isinstance(refused, str) else "")
        return True

    async def _hold_transcript(self, item_id: str) -> bool:
        """A committed item the session transcribes is held at its transcription model's
        price (checked against the key like any model) before its transcript is relayed."""
        buffered, self.buffered = self.buffered, 0
        model = self.shape.transcription_model
        if not model:
            return True
        try:
            price = self.transcriber(model)
            await self.session.hold_transcript(item_id, price, buffered)
        except MeterwayError as exc:
            return await self._refuse(exc)
        return True

    async def _hold_turn(self) -> bool:
        """Voice detection ended a turn: the provider will answer it by itself, so its
        response is held before any of it is relayed."""
        if self.session.price is None or self.session.holds >= MAX_HOLDS:
            return True  # an earlier hold not yet taken covers it
        cap = output_cap(self.shape.max_output_tokens, self.session.price.max_output_tokens)
        try:
            await self.session.hold_next(cap)
        except MeterwayError as exc:
            return await self._refuse(exc)
        return True

    async def _bind(self, event: dict[str, Any]) -> bool:
        response_id = str((event.get("response") or {}).get("id"))
        if self.session.bind(response_id):
            return True
        log.error("unheld response %s in %s: closing", response_id, self.session.request_id)
        await self.upstream.send_str(
            orjson.dumps({"type": "response.cancel", "response_id": response_id}).decode()
        )
        return False  # nothing of it is relayed

    async def _to_client(self, data: str) -> None:
        """A frame to the client, unless it left (then the provider is still read)."""
        if self.client_gone or self.client.closed:
            return
        try:
            await self.client.send_str(data)
        except ConnectionError:
            self.client_gone = True


INVALID_EVENT = "invalid_event"
UPDATES = frozenset({"session.update", "transcription_session.update"})
BUSY = (
    "conversation_already_has_active_response",
    "A response is already being made (or held) in this session; wait for its "
    "response.done, or cancel it, before asking for another.",
)
TRANSCRIPTION_ONLY = ("invalid_request", "A transcription session makes no responses.")


def _error(event_id: object, code: str, message: str) -> str:
    """An `error` event of the gateway's own, shaped as the provider's."""
    error = {
        "type": "invalid_request_error",
        "code": code,
        "message": message,
        "param": None,
        "event_id": event_id,
    }
    return orjson.dumps({"type": "error", "event_id": None, "error": error}).decode()
