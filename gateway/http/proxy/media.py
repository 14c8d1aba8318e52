"""Answers that may be other than JSON: speech audio, transcriptions in text, srt or vtt.

Token-priced speech asked for as audio is answered by http/proxy/speech.py. Other speech is billed
as soon as the provider accepts the call (per character: its cost is known
before a byte of audio), then its audio is relayed chunk by chunk as it came, so a client
that leaves mid-stream has been billed for the call, as the provider bills it. A
transcription is read whole (it is small), billed from its usage when it is JSON that has
one, else from what Meterway measured, and relayed as it came (its debit added to its
`usage` when it is JSON).
"""

from __future__ import annotations

import orjson
from aiohttp import web

from gateway.errors import UpstreamTimeout
from gateway.http.appkeys import Proxying
from gateway.http.observability.observe import timing
from gateway.http.observability.tracer import trace_prepared
from gateway.http.proxy.provider_answers import read_answer
from gateway.http.proxy.speech import assembled_speech
from gateway.llm.bounded import next_chunk
from gateway.llm.cost_field import costed_media
from gateway.llm.http1 import Answer
from gateway.llm.reading.calls import Call
from gateway.llm.relay import json_usage
from gateway.services.money.settlement import Hold


def _cost_headers(cost: int | None) -> dict[str, str]:
    if cost is None:
        return {"x-meterway-settlement": "pending"}
    return {"x-meterway-cost-micros": str(cost)}


async def relay_media(
    request: web.Request,
    p: Proxying,
    call: Call,
    hold: Hold,
    resp: Answer,
    headers: dict[str, str],
) -> web.StreamResponse:
    kind = resp.headers.get("content-type", "application/octet-stream")
    if call.assembled:
        return await assembled_speech(request, p, call, hold, resp, headers)
    if call.price.kind == "speech":
        return await _audio(request, p, call, hold, resp, {**headers, "content-type": kind})
    with timing(request).upstream():
        raw = await read_answer(p.settings, resp)
    payload: object = None
    if kind.startswith("application/json"):
        try:
            payload = orjson.loads(raw)
        except ValueError:
            payload = None
    answer = payload if isinstance(payload, dict) else {}
    cost = await p.meter.settle(hold, call, json_usage(call, answer, p.counter))
    headers.update(_cost_headers(cost))
    body = costed_media(raw, cost) if isinstance(payload, dict) and cost is not None else raw
    return web.Response(body=body, headers={**headers, "content-type": kind})


async def _audio(
    request: web.Request,
    p: Proxying,
    call: Call,
    hold: Hold,
    resp: Answer,
    headers: dict[str, str],
) -> web.StreamResponse:
    cost = await p.meter.settle(hold, call, json_usage(call, {}, p.counter))
    out = web.StreamResponse(headers={**headers, **_cost_headers(cost)})
    if p.traced:
        trace_prepared(request, out)
    try:
        await out.prepare(request)
        with timing(request).upstream():
            while chunk := await next_chunk(resp, p.settings.upstream_idle_timeout_s):
                await out.write(chunk)
        await out.write_eof()
    except ConnectionResetError:
        resp.close()  # the client left: the call is billed, the rest of its audio dropped
    except TimeoutError as exc:
        resp.close()
        raise UpstreamTimeout("The provider stalled mid-audio.") from exc
    return out
