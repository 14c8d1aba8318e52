"""OpenAPI paths of the Responses API, token counting, model lookup and /api/ping."""

from __future__ import annotations

from typing import Any

from gateway.http.openapi.paths.operator import OPEN, PROXY
from gateway.http.openapi.schemas import (
    BOOL,
    INT,
    JSON_OBJECT,
    STR,
    Operation,
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


CREATE_FILE: Operation = _batch_op("Upload a batch input file (multipart, purpose batch), priced")
RETRIEVE_FILE: Operation = _batch_op("A file this key uploaded", "file_id")
FILE_CONTENT: Operation = _batch_op(
    "The content of this key's file or its batch's output", "file_id"
)
CREATE_BATCH: Operation = _batch_op(
    "Create a batch: its file's worst case reserved at batch rates", body=JSON_OBJECT
)
LIST_BATCHES: Operation = _batch_op("The batches this key created, each settled one with its cost")
RETRIEVE_BATCH: Operation = _batch_op(
    "A batch this key created; settled when first seen ended", "batch_id"
)
CANCEL_BATCH: Operation = _batch_op("Cancel a batch this key created", "batch_id")


RESPONSES: Operation = op(
    "OpenAI Responses API, metered (background: settled when it ends)",
    "responses",
    PROXY,
    ok=JSON_OBJECT,
    body=_RESPONSE_CALL,
)
RETRIEVE: Operation = _owned("Retrieve a response this key created")
DELETE: Operation = _owned("Delete a response this key created")
CANCEL: Operation = _owned("Cancel a background response this key created")
INPUT_ITEMS: Operation = _owned("Input items of a response this key created")
COUNT_TOKENS: Operation = op(
    "Anthropic token count, not billed (the provider's, else a local estimate)",
    "proxy",
    PROXY,
    ok=obj(("input_tokens",), input_tokens=INT),
    body=JSON_OBJECT,
)
RETRIEVE_MODEL: Operation = op(
    "One model, if this key may use it",
    "proxy",
    PROXY,
    ok=JSON_OBJECT,
    params=(path_param("model"),),
)
REALTIME: Operation = op(
    "OpenAI Realtime API over WebSocket (upgrade; key or client secret), each "
    "response held and settled",
    "realtime",
    PROXY,
    ok=JSON_OBJECT,
    status="101",
    params=(query("model", STR, "The Realtime model"),),
)
CLIENT_SECRET: Operation = op(
    "A short-lived client secret for a browser's Realtime session, bound to this key",
    "realtime",
    PROXY,
    ok=obj(("value", "expires_at"), value=STR, expires_at=INT, session=JSON_OBJECT),
    body=JSON_OBJECT,
    body_required=False,
)
PING: Operation = op(
    "The running build: image, version, git commit ('' when unknown)",
    "health",
    OPEN,
    ok=obj(("image", "version", "commit"), image=STR, version=STR, commit=STR),
)
