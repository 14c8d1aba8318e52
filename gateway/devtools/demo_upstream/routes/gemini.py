"""Google's Gemini wire: the Gemini API under `/v1beta/models/{model}:METHOD` (key in
`x-goog-api-key`) and Vertex AI under `/v1/projects/{p}/locations/{l}/publishers/google/
models/{model}:METHOD` (a bearer token): `generateContent`, `streamGenerateContent`
(SSE only with `alt=sse`, as Google serves it) and `countTokens`.

Answers carry `usageMetadata` in Google's field names; `control.usage`, when set, is
reported as it is (a Gemini-shaped object), else the demo counts. Each stream event carries
the usage so far, the last one (with `finishReason`) all of it.

Function calling as Gemini has it: `tools[].functionDeclarations`,
`toolConfig.functionCallingConfig` (mode NONE, AUTO, ANY with `allowedFunctionNames`);
calls answer as `functionCall` parts (finishReason STOP; in a stream, one event of calls
before the last), and a turn of `functionResponse` parts must answer the model turn before
it call for call, by name, or the request is a 400 as on Gemini.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gateway.devtools.demo_upstream.calls import Call, ProviderError, open_call
from gateway.devtools.demo_upstream.frames import Frame, dumps
from gateway.devtools.demo_upstream.json_reply import schema_instance
from gateway.devtools.demo_upstream.sse import play
from gateway.devtools.demo_upstream.text import Reply, plan_reply, split_chunks
from gateway.devtools.demo_upstream.tool_calls import Asked, planned_calls

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


def _parts(content: object) -> list[JSON]:
    parts = content.get("parts") if isinstance(content, dict) else None
    return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []


def _texts(content: object) -> list[str]:
    """Its texts, and the output of each function response (what a model reads)."""
    texts = []
    for part in _parts(content):
        response = part.get("functionResponse")
        if isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif isinstance(response, dict):
            texts.append(str((response.get("response") or {}).get("output", "")))
    return texts


def _names(content: object, kind: str) -> list[str]:
    return sorted(
        str(p[kind].get("name")) for p in _parts(content) if isinstance(p.get(kind), dict)
    )


MISSING_SIGNATURE = (
    "Function call is missing a thought_signature in functionCall parts. This is required for"
    " tools to work correctly. Please refer to"
    " https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
)


def _check_signatures(contents: list[Any]) -> None:
    """As Gemini 3: the first function call of each model turn carries its signature."""
    for content in contents:
        calls = [p for p in _parts(content) if isinstance(p.get("functionCall"), dict)]
        if calls and not isinstance(calls[0].get("thoughtSignature"), str):
            raise ProviderError(400, error_body(400, MISSING_SIGNATURE))


def _check_turns(contents: list[Any]) -> None:
    """Each turn of function responses answers the model turn before it, call for call."""
    for at, content in enumerate(contents):
        answered = _names(content, "functionResponse")
        asked = _names(contents[at - 1], "functionCall") if at else []
        if answered and answered != asked:
            message = (
                "Please ensure that the number of function response parts is equal to the "
                "number of function call parts of the function call turn."
            )
            raise ProviderError(400, error_body(400, message))


def _asked(body: JSON) -> Asked:
    found = body.get("tools")
    tools: list[Any] = found if isinstance(found, list) else []
    declared = tuple(
        str(d.get("name"))
        for tool in tools
        if isinstance(tool, dict)
        for d in tool.get("functionDeclarations") or ()
        if isinstance(d, dict)
    )
    config = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    contents = body.get("contents") if isinstance(body.get("contents"), list) else []
    return Asked(
        declared,
        required=config.get("mode") == "ANY",
        allowed=tuple(config.get("allowedFunctionNames") or ()),
        forbidden=config.get("mode") == "NONE",
        answering=bool(contents and _names(contents[-1], "functionResponse")),
    )


def _call_part(call: JSON) -> JSON:
    function = {"name": call.get("name"), "args": call.get("arguments") or {}}
    part = {"functionCall": function | ({"id": call["id"]} if call.get("id") else {})}
    signature = call.get("thought_signature")
    return part | ({"thoughtSignature": signature} if signature else {})


def _prompt(body: JSON) -> tuple[str, str]:
    """The whole prompt's text (function declarations and calls included), and the last
    user turn's."""
    found = body.get("contents")
    contents: list[Any] = found if isinstance(found, list) else []
    texts = _texts(body.get("systemInstruction")) + [t for c in contents for t in _texts(c)]
    texts += [dumps(body["tools"])] if body.get("tools") else []
    texts += [dumps(p) for c in contents for p in _parts(c) if "functionCall" in p]
    last = _texts(contents[-1]) if contents else []
    return " ".join(texts), " ".join(last)


def _reply(call: Call) -> tuple[Reply, list[JSON]]:
    """The text answer, or the function calls and their count as the reply."""
    _check_turns(call.body.get("contents") or [])
    if call.behaviour.signatures_required:
        _check_signatures(call.body.get("contents") or [])
    config = call.body.get("generationConfig") or {}
    budget = config.get("maxOutputTokens") if isinstance(config, dict) else None
    prompt, last = _prompt(call.body)
    if isinstance(config, dict) and config.get("responseMimeType") == "application/json":
        schema = config.get("responseJsonSchema") or config.get("responseSchema")
        return plan_reply(prompt, dumps(schema_instance(schema)), None, call.control.counter), []
    calls = [_call_part(c) for c in planned_calls(_asked(call.body), call.behaviour.tool_calls)]
    if calls:
        return plan_reply(prompt, dumps(calls), None, call.control.counter), calls
    return call.reply(prompt, last, budget if isinstance(budget, int) else None), []


def _usage(call: Call, reply: Reply) -> JSON:
    if call.behaviour.usage is not None:
        return dict(call.behaviour.usage)
    return {
        "promptTokenCount": reply.prompt_tokens,
        "candidatesTokenCount": reply.completion_tokens,
        "totalTokenCount": reply.prompt_tokens + reply.completion_tokens,
    }


def _answer(model: str, parts: list[JSON], usage: JSON, finish: bool) -> JSON:
    candidate: JSON = {"content": {"parts": parts, "role": "model"}, "index": 0}
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
    reply, calls = _reply(call)
    call.finished()
    parts = calls or [{"text": reply.text}]
    return web.json_response(_answer(request.match_info["model"], parts, _usage(call, reply), True))


async def stream_generate(request: web.Request) -> web.StreamResponse:
    if request.query.get("alt") != "sse":
        raise ProviderError(400, error_body(400, "This fake streams only with alt=sse."))
    call = await open_call(request, error_body)
    reply, calls = _reply(call)
    usage, model = _usage(call, reply), request.match_info["model"]
    so_far = {"promptTokenCount": usage.get("promptTokenCount", 0)}
    if calls:
        pieces = [calls, [{"text": ""}]]
    else:
        pieces = [[{"text": p}] for p in split_chunks(reply.text, call.behaviour.chunks)]
    last = pieces.pop() if pieces else [{"text": ""}]
    frames = [Frame.of(_answer(model, piece, so_far, False), content=True) for piece in pieces]
    frames.append(Frame.of(_answer(model, last, usage, True), content=True))
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
