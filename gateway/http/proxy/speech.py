"""Token-priced speech (gpt-4o-mini-tts) asked for as audio: its usage is reported only in
server-sent events, so the provider is asked for those (`stream_format: "sse"`, set when the
call is read) and the client gets what it asked for, the audio bytes, assembled from the
events' base64 deltas and billed exactly from `speech.audio.done`'s usage.

A stream cut off bills nothing, as a JSON answer cut off does (the client got no audio); one
that ends cleanly without that event bills what was counted (the input) and answers 502."""

from __future__ import annotations

import base64
import binascii

import orjson
from aiohttp import web

from billing.metering.usage import Usage
from gateway.errors import UpstreamError
from gateway.http.appkeys import Proxying
from gateway.http.observability.observe import timing
from gateway.http.proxy.provider_answers import read_answer
from gateway.llm.http1 import Answer
from gateway.llm.reading.calls import Call
from gateway.llm.sse import SSEParser
from gateway.services.money.settlement import Hold

CONTENT_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}


def _audio(data: str) -> bytes:
    """One `speech.audio.delta` event's audio, b"" for any other event."""
    if '"speech.audio.delta"' not in data:
        return b""
    try:
        event = orjson.loads(data)
        return base64.b64decode(event.get("audio", ""), validate=True)
    except (ValueError, TypeError, binascii.Error):
        return b""


async def assembled_speech(
    request: web.Request,
    p: Proxying,
    call: Call,
    hold: Hold,
    resp: Answer,
    headers: dict[str, str],
) -> web.StreamResponse:
    with timing(request).upstream():
        raw = await read_answer(p.settings, resp)
    parser, tally = SSEParser(), call.endpoint.new_tally(False)
    audio = bytearray()
    for event in [*parser.feed(raw), *parser.flush()]:
        tally.feed(event)
        audio += _audio(event.data)
    reported = tally.reported() if tally.usage_final else None
    usage = reported or Usage(input_tokens=call.input_tokens, source="counted")
    cost = await p.meter.settle(hold, call, usage)
    if reported is None:
        raise UpstreamError("The provider's speech ended before its audio was complete.")
    fmt = str(call.body.get("response_format", "mp3"))
    headers = {**headers, "content-type": CONTENT_TYPES.get(fmt, "application/octet-stream")}
    if cost is not None:
        headers["x-meterway-cost-micros"] = str(cost)
    else:
        headers["x-meterway-settlement"] = "pending"
    return web.Response(body=bytes(audio), headers=headers)
