"""OpenAI's routes beyond text: moderations (and, below, images and audio), as the official
SDK parses them."""

from __future__ import annotations

import uuid

from aiohttp import web

from gateway.devtools.demo_upstream import openai_wire as wire
from gateway.devtools.demo_upstream.calls import ProviderError, model_of, open_call

ERRORS = wire.error_body
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


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/moderations", moderations)
