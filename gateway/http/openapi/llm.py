"""OpenAPI paths of the Responses API, token counting, model lookup and /api/ping."""

from __future__ import annotations

from typing import Any

from gateway.http.openapi.paths import OPEN, PROXY
from gateway.http.openapi.schemas import (
    BOOL,
    INT,
    JSON_OBJECT,
    STR,
    obj,
    op,
    path_param,
    query,
)

_RESPONSE_ID = path_param("response_id")
_RESPONSE_CALL = {
    "type": "object",
    "required": ["model"],
    "properties": {"model": STR, "stream": BOOL, "background": BOOL, "max_output_tokens": INT},
    "description": "OpenAI's Responses API request body.",
}


def _owned(summary: str) -> dict[str, Any]:
    return op(summary, "responses", PROXY, ok=JSON_OBJECT, params=(_RESPONSE_ID,))


def _batch_op(summary: str, param: str | None = None, body: Any = None) -> dict[str, Any]:
    params = (path_param(param),) if param else ()
    return op(summary, "batches", PROXY, ok=JSON_OBJECT, params=params, body=body)


def batch_paths() -> dict[str, Any]:
    """Files and batches, the key's own only (another's id answers 404); scope batches."""
    return {
        "/v1/files": {
            "post": _batch_op("Upload a batch input file (multipart, purpose batch), priced")
        },
        "/v1/files/{file_id}": {"get": _batch_op("A file this key uploaded", "file_id")},
        "/v1/files/{file_id}/content": {
            "get": _batch_op("The content of this key's file or its batch's output", "file_id")
        },
        "/v1/batches": {
            "post": _batch_op(
                "Create a batch: its file's worst case reserved at batch rates", body=JSON_OBJECT
            ),
            "get": _batch_op("The batches this key created, each settled one with its cost"),
        },
        "/v1/batches/{batch_id}": {
            "get": _batch_op("A batch this key created; settled when first seen ended", "batch_id")
        },
        "/v1/batches/{batch_id}/cancel": {
            "post": _batch_op("Cancel a batch this key created", "batch_id")
        },
    }


def llm_paths() -> dict[str, Any]:
    return {
        **batch_paths(),
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
        "/v1/realtime": {
            "get": op(
                "OpenAI Realtime API over WebSocket (upgrade; key or client secret), each "
                "response held and settled",
                "realtime",
                PROXY,
                ok=JSON_OBJECT,
                status="101",
                params=(query("model", STR, "The Realtime model"),),
            )
        },
        "/v1/realtime/client_secrets": {
            "post": op(
                "A short-lived client secret for a browser's Realtime session, bound to this key",
                "realtime",
                PROXY,
                ok=obj(("value", "expires_at"), value=STR, expires_at=INT, session=JSON_OBJECT),
                body=JSON_OBJECT,
                body_required=False,
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
