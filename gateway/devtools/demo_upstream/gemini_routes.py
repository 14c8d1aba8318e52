"""Google's Gemini wire: the Gemini API under `/v1beta/models/{model}:METHOD` (key in
`x-goog-api-key`) and Vertex AI under `/v1/projects/{p}/locations/{l}/publishers/google/
models/{model}:METHOD` (a bearer token): `generateContent`, `streamGenerateContent`
(SSE only with `alt=sse`, as Google serves it) and `countTokens`.

Answers carry `usageMetadata` in Google's field names; `control.usage`, when set, is
reported as it is (a Gemini-shaped object), else the demo counts. Each stream event carries
the usage so far, the last one (with `finishReason`) all of it.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gateway.devtools.demo_upstream.calls import Call, ProviderError, open_call
from gateway.devtools.demo_upstream.frames import Frame
from gateway.devtools.demo_upstream.sse import play
from gateway.devtools.demo_upstream.text import Reply, split_chunks

JSON = dict[str, Any]
STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
}
VERTEX = "/v1/projects/{project}/locations/{location}/publishers/google/models/{model}"


def error_body(status: int, message: str) -> JSON:
    """Google's error object."""
    return {"error": {"code": status, "message": message, "status": STATUS.get(status, "INTERNAL")}}


def _texts(content: object) -> list[str]:
    parts = content.get("parts") if isinstance(content, dict) else None
    return [
        p["text"] for p in parts or () if isinstance(p, dict) and isinstance(p.get("text"), str)
    ]


def _prompt(body: JSON) -> tuple[str, str]:
    """The whole prompt's text, and the last user turn's."""
    found = body.get("contents")
    contents: list[Any] = found if isinstance(found, list) else []
    texts = _texts(body.get("systemInstruction")) + [t for c in contents for t in _texts(c)]
    last = _texts(contents[-1]) if contents else []
    return " ".join(texts), " ".join(last)


def _reply(call: Call) -> Reply:
    config = call.body.get("generationConfig") or {}
    budget = config.get("maxOutputTokens") if isinstance(config, dict) else None
    prompt, last = _prompt(call.body)
    return call.reply(prompt, last, budget if isinstance(budget, int) else None)


def _usage(call: Call, reply: Reply) -> JSON:
    if call.behaviour.usage is not None:
        return dict(call.behaviour.usage)
    return {
        "promptTokenCount": reply.prompt_tokens,
        "candidatesTokenCount": reply.completion_tokens,
        "totalTokenCount": reply.prompt_tokens + reply.completion_tokens,
    }


def _answer(model: str, text: str, usage: JSON, finish: bool) -> JSON:
    candidate: JSON = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = "STOP"
    return {
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": secrets.token_hex(8),
    }


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _authorised(vertex: bool, handler: Handler) -> Handler:
    async def route(request: web.Request) -> web.StreamResponse:
        if vertex and not request.headers.get("authorization", "").startswith("Bearer "):
            raise ProviderError(401, error_body(401, "Request is missing a valid OAuth token."))
        if not vertex and not request.headers.get("x-goog-api-key"):
            raise ProviderError(403, error_body(403, "Method doesn't allow unregistered callers."))
        return await handler(request)

    return route


async def generate(request: web.Request) -> web.StreamResponse:
    call = await open_call(request, error_body)
    reply = _reply(call)
    call.finished()
    return web.json_response(
        _answer(request.match_info["model"], reply.text, _usage(call, reply), True)
    )


async def stream_generate(request: web.Request) -> web.StreamResponse:
    if request.query.get("alt") != "sse":
        raise ProviderError(400, error_body(400, "This fake streams only with alt=sse."))
    call = await open_call(request, error_body)
    reply = _reply(call)
    usage, model = _usage(call, reply), request.match_info["model"]
    pieces = split_chunks(reply.text, call.behaviour.chunks)
    so_far = {"promptTokenCount": usage.get("promptTokenCount", 0)}
    frames = [Frame.of(_answer(model, piece, so_far, False), content=True) for piece in pieces[:-1]]
    frames.append(Frame.of(_answer(model, pieces[-1] if pieces else "", usage, True), content=True))
    return await play(request, call, frames, Frame.of(error_body(500, "Internal error")))


async def count_tokens(request: web.Request) -> web.StreamResponse:
    call = await open_call(request, error_body)
    prompt, _ = _prompt(call.body)
    call.finished()
    return web.json_response({"totalTokens": call.control.counter(prompt)})


def add_routes(app: web.Application) -> None:
    methods: tuple[tuple[str, Handler], ...] = (
        ("generateContent", generate),
        ("streamGenerateContent", stream_generate),
        ("countTokens", count_tokens),
    )
    for method, handler in methods:
        app.router.add_post(f"/v1beta/models/{{model}}:{method}", _authorised(False, handler))
        app.router.add_post(f"{VERTEX}:{method}", _authorised(True, handler))
