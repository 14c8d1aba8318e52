"""OpenAI's routes beyond text: moderations (and, below, images and audio), as the official
SDK parses them."""

from __future__ import annotations

import uuid

from aiohttp import web

from gateway.devtools.demo_upstream.calls import Call, ProviderError, model_of, open_call
from gateway.devtools.demo_upstream.control import Served, api_key_of
from gateway.devtools.demo_upstream.sse import play
from gateway.devtools.demo_upstream.wires import images as images_wire
from gateway.devtools.demo_upstream.wires import openai as wire

ERRORS = wire.error_body
JSON = dict[str, object]
CATEGORIES = ("harassment", "hate", "self-harm", "sexual", "violence")


def _moderation_result(text: str) -> dict[str, object]:
    flagged = "kill" in text.lower()
    return {
        "flagged": flagged,
        "categories": {c: flagged and c == "violence" for c in CATEGORIES},
        "category_scores": {c: 0.9 if flagged and c == "violence" else 0.01 for c in CATEGORIES},
        "category_applied_input_types": {c: ["text"] for c in CATEGORIES},
    }


async def moderations(request: web.Request) -> web.StreamResponse:
    """POST /v1/moderations: one result per input; `kill` is flagged as violence."""
    call = await open_call(request, ERRORS)
    model = model_of(call, ERRORS)
    data = call.body.get("input")
    inputs = [data] if isinstance(data, str) else data
    if not isinstance(inputs, list) or not inputs:
        raise ProviderError(400, ERRORS(400, "'input' is a required property"))
    texts = [i if isinstance(i, str) else str(i.get("text", "")) for i in inputs]
    call.finished()
    results = [_moderation_result(t) for t in texts]
    return web.json_response({"id": f"modr-{uuid.uuid4().hex}", "model": model, "results": results})


def _image_usage(call: Call, model: str, n: int, image_tokens: int) -> JSON | None:
    """The usage a GPT image answer reports: the truth, the override, or none."""
    if not images_wire.is_token_model(model):
        return None
    text_tokens = call.control.counter(str(call.body.get("prompt") or ""))
    partial = call.body.get("partial_images") or 0 if call.body.get("stream") else 0
    output = images_wire.output_tokens(call.body, n) + 100 * int(partial)
    computed = images_wire.token_usage(text_tokens, image_tokens, output)
    return wire.json_usage(call.behaviour, computed)


async def answer_images(
    request: web.Request, call: Call, kind: str, image_tokens: int = 0
) -> web.StreamResponse:
    """An images answer for `call` (generation or edit), JSON or a stream of events."""
    model = model_of(call, ERRORS)
    n = int(call.body.get("n") or 1)
    usage = _image_usage(call, model, n, image_tokens)
    key = api_key_of(request.headers)
    call.control.served.append(Served("openai", "images", key, model, {"images": n}))
    if call.body.get("stream") in (True, "true"):
        partial = int(call.body.get("partial_images") or 0)
        frames = images_wire.image_frames(kind, call.body, partial, usage)
        return await play(request, call, frames, wire.error_frame())
    call.finished()
    return web.json_response(images_wire.images_response(model, n, usage))


async def image_generations(request: web.Request) -> web.StreamResponse:
    """POST /v1/images/generations."""
    call = await open_call(request, ERRORS)
    if not isinstance(call.body.get("prompt"), str):
        raise ProviderError(400, ERRORS(400, "'prompt' is a required property"))
    return await answer_images(request, call, "image_generation")


def _form_int(call: Call, name: str) -> None:
    """Form fields arrive as text: the counts the answer depends on become integers."""
    value = call.body.get(name)
    if isinstance(value, str):
        call.body[name] = int(value) if value.isdigit() else 0
    if call.body.get("stream") == "true":
        call.body["stream"] = True


def _input_images(call: Call) -> list[dict[str, object]]:
    images = call.body.get("image[]") or call.body.get("image")
    found = images if isinstance(images, list) else [images]
    return [i for i in found if isinstance(i, dict) and i.get("filename") is not None]


async def image_edits(request: web.Request) -> web.StreamResponse:
    """POST /v1/images/edits (multipart): each input image is 85 image tokens here."""
    call = await open_call(request, ERRORS)
    images = _input_images(call)
    if not images or not isinstance(call.body.get("prompt"), str):
        raise ProviderError(400, ERRORS(400, "'image' and 'prompt' are required properties"))
    for name in ("n", "partial_images"):
        _form_int(call, name)
    return await answer_images(request, call, "image_edit", image_tokens=85 * len(images))


async def image_variations(request: web.Request) -> web.StreamResponse:
    """POST /v1/images/variations (multipart, DALL-E 2)."""
    call = await open_call(request, ERRORS)
    if not _input_images(call):
        raise ProviderError(400, ERRORS(400, "'image' is a required property"))
    _form_int(call, "n")
    return await answer_images(request, call, "image_variation")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/images/edits", image_edits)
    app.router.add_post("/v1/images/variations", image_variations)
    app.router.add_post("/v1/moderations", moderations)
    app.router.add_post("/v1/images/generations", image_generations)
