"""OpenAI's audio routes as the official SDK parses them: transcriptions and translations
(multipart uploads; JSON, text formats or a stream of transcript events) and speech (audio
bytes streamed in `chunks` pieces `chunk_delay_s` apart, or speech events).

whisper-1 reports `usage: {type: duration, seconds}` from the recording's own length
(`omit_usage` plays a server that does not); token models report audio tokens (one per 100
bytes of upload here) and the transcript's tokens.
"""

from __future__ import annotations

import asyncio
import base64
import math
from fractions import Fraction
from typing import Any

from aiohttp import web

from billing.metering.audio_duration import Mp3Frames, wav_seconds
from gateway.devtools.demo_upstream.calls import Call, ProviderError, model_of, open_call
from gateway.devtools.demo_upstream.control import Served, api_key_of
from gateway.devtools.demo_upstream.frames import Frame
from gateway.devtools.demo_upstream.sse import play
from gateway.devtools.demo_upstream.wires import openai as wire

ERRORS = wire.error_body
TRANSCRIPT = "the quick brown fox jumps over the lazy dog"
AUDIO_CHUNK = b"\xff\xfb\x90\x00" + bytes(413)  # one silent MP3 frame


def _seconds(file: dict[str, Any]) -> float:
    data = file.get("data") or b""
    wav = wav_seconds(data[:65536], len(data))
    if wav is not None:
        return float(wav)
    frames = Mp3Frames()
    frames.feed(data)
    return float(frames.seconds or Fraction(1))


def _usage(call: Call, model: str, file: dict[str, Any]) -> dict[str, Any] | None:
    if call.behaviour.omit_usage:
        return None
    if call.behaviour.usage is not None:
        return call.behaviour.usage
    if model.startswith("whisper"):
        return {"type": "duration", "seconds": _seconds(file)}
    audio = int(file.get("bytes") or 0) // 100
    text = call.control.counter(str(call.body.get("prompt") or ""))
    output = call.control.counter(TRANSCRIPT)
    return {
        "type": "tokens",
        "input_tokens": audio + text,
        "input_token_details": {"audio_tokens": audio, "text_tokens": text},
        "output_tokens": output,
        "total_tokens": audio + text + output,
    }


def _frames(usage: dict[str, Any] | None) -> list[Frame]:
    frames = [
        Frame.of({"type": "transcript.text.delta", "delta": word + " "}, content=True)
        for word in TRANSCRIPT.split()
    ]
    done: dict[str, Any] = {"type": "transcript.text.done", "text": TRANSCRIPT}
    if usage is not None:
        done["usage"] = usage
    return [*frames, Frame.of(done)]


async def transcriptions(request: web.Request) -> web.StreamResponse:
    """POST /v1/audio/transcriptions and /translations."""
    call = await open_call(request, ERRORS)
    model = model_of(call, ERRORS)
    file = call.body.get("file")
    if not isinstance(file, dict):
        raise ProviderError(400, ERRORS(400, "'file' is a required property"))
    usage = _usage(call, model, file)
    seconds = {"seconds": math.ceil(_seconds(file))}  # a second begun is counted
    key = api_key_of(request.headers)
    call.control.served.append(Served("openai", "audio_transcriptions", key, model, seconds))
    if call.body.get("stream") == "true":
        return await play(request, call, _frames(usage), wire.error_frame())
    call.finished()
    fmt = call.body.get("response_format") or "json"
    if fmt in ("text", "srt", "vtt"):
        return web.Response(text=TRANSCRIPT + "\n", content_type="text/plain")
    answer: dict[str, Any] = {"text": TRANSCRIPT}
    if usage is not None:
        answer["usage"] = usage
    return web.json_response(answer)


async def speech(request: web.Request) -> web.StreamResponse:
    """POST /v1/audio/speech: audio bytes, or speech events with stream_format sse."""
    call = await open_call(request, ERRORS)
    model = model_of(call, ERRORS)
    text = str(call.body.get("input") or "")
    said = {"characters": len(text)}
    key = api_key_of(request.headers)
    call.control.served.append(Served("openai", "audio_speeches", key, model, said))
    if call.body.get("stream_format") == "sse":
        usage = {
            "input_tokens": call.control.counter(text),
            "output_tokens": 10 * len(text.split()),
            "total_tokens": call.control.counter(text) + 10 * len(text.split()),
        }
        audio = base64.b64encode(AUDIO_CHUNK).decode()
        frames = [
            Frame.of({"type": "speech.audio.delta", "audio": audio}, content=True)
            for _ in range(call.behaviour.chunks)
        ]
        frames.append(Frame.of({"type": "speech.audio.done", "usage": usage}))
        return await play(request, call, frames, wire.error_frame())
    response = web.StreamResponse(headers={"content-type": "audio/mpeg"})
    await response.prepare(request)
    try:
        for index in range(call.behaviour.chunks):
            if index and call.behaviour.chunk_delay_s:
                await asyncio.sleep(call.behaviour.chunk_delay_s)
            await response.write(AUDIO_CHUNK * 8)
        await response.write_eof()
    except ConnectionResetError:
        call.control.note_cancelled()
        return response
    call.finished()
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/audio/transcriptions", transcriptions)
    app.router.add_post("/v1/audio/translations", transcriptions)
    app.router.add_post("/v1/audio/speech", speech)
