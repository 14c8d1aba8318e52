"""The one place frames meet the socket: pacing, injected mid-stream failures, client loss.

A client that goes away shows up either as `ConnectionResetError` on write (counted here)
or, with the runner's handler cancellation, as `CancelledError` (counted by the middleware).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from gateway.devtools.demo_upstream.calls import Call
from gateway.devtools.demo_upstream.frames import Frame, failure_index

SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}


async def play(
    request: web.Request, call: Call, frames: list[Frame], error_frame: Frame
) -> web.StreamResponse:
    """Stream `frames`, or stop at the planned failure point and fail as `fail_mode` says."""
    response = web.StreamResponse(headers=SSE_HEADERS)
    await response.prepare(request)
    cut = failure_index(frames, call.behaviour.fail_after_chunks)
    try:
        for index, frame in enumerate(frames):
            if index and call.behaviour.chunk_delay_s > 0:
                await asyncio.sleep(call.behaviour.chunk_delay_s)
            if index == cut:
                await _fail(request, response, call, frame, error_frame)
                return response
            await response.write(frame.encode())
        await response.write_eof()
    except ConnectionResetError:
        call.control.note_cancelled()
        return response
    call.finished()
    return response


async def _fail(
    request: web.Request, response: web.StreamResponse, call: Call, frame: Frame, error_frame: Frame
) -> None:
    mode = call.behaviour.fail_mode
    if mode == "disconnect":
        if request.transport is not None:
            request.transport.abort()
        return
    if mode == "truncate":
        await response.write(frame.truncated())
    elif mode == "malformed":
        await response.write(frame.malformed())
    else:
        await response.write(error_frame.encode())
    await response.write_eof()
