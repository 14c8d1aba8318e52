"""OpenAPI paths of the Responses API, token counting, model lookup and /api/ping."""

from __future__ import annotations

from typing import Any

from gateway.http.openapi.paths import OPEN, PROXY
from gateway.http.openapi.schemas import BOOL, INT, JSON_OBJECT, STR, obj, op, path_param

_RESPONSE_ID = path_param("response_id")
_RESPONSE_CALL = {
    "type": "object",
    "required": ["model"],
    "properties": {"model": STR, "stream": BOOL, "background": BOOL, "max_output_tokens": INT},
    "description": "OpenAI's Responses API request body.",
}


def _owned(summary: str) -> dict[str, Any]:
    return op(summary, "responses", PROXY, ok=JSON_OBJECT, params=(_RESPONSE_ID,))


def llm_paths() -> dict[str, Any]:
    return {
        "/v1/responses": {
            "post": op(
                "OpenAI Responses API, metered (background: settled when it ends)",
                "responses",
                PROXY,
                ok=JSON_OBJECT,
                body=_RESPONSE_CALL,
            )
        },
        "/v1/responses/{response_id}": {
            "get": _owned("Retrieve a response this key created"),
            "delete": _owned("Delete a response this key created"),
        },
        "/v1/responses/{response_id}/cancel": {
            "post": _owned("Cancel a background response this key created"),
        },
        "/v1/responses/{response_id}/input_items": {
            "get": _owned("Input items of a response this key created"),
        },
        "/v1/messages/count_tokens": {
            "post": op(
                "Anthropic token count, not billed (the provider's, else a local estimate)",
                "proxy",
                PROXY,
                ok=obj(("input_tokens",), input_tokens=INT),
                body=JSON_OBJECT,
            )
        },
        "/v1/models/{model}": {
            "get": op(
                "One model, if this key may use it",
                "proxy",
                PROXY,
                ok=JSON_OBJECT,
                params=(path_param("model"),),
            )
        },
        "/api/ping": {
            "get": op(
                "The running build: image, version, git commit ('' when unknown)",
                "health",
                OPEN,
                ok=obj(("image", "version", "commit"), image=STR, version=STR, commit=STR),
            )
        },
    }
