"""OpenAI's Files and Batch APIs, in memory, as the official SDK parses them.

A batch runs when it is first retrieved: every line is answered (a chat completion with
usage, or an embeddings list), except lines whose `custom_id` starts with `fail`, which get
a 400 in the output as the real API reports a failed request; a line whose `custom_id` is
`ran-on:MODEL:...` reports it ran on MODEL (as a provider may name a model other than the
one asked for). Cancelling a batch that has not run yet leaves it `cancelled` with the first
half of its lines answered. Listing batches runs none.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from gateway.devtools.demo_upstream.calls import CONTROL, ProviderError, open_call
from gateway.devtools.demo_upstream.wires import openai as wire

ERRORS = wire.error_body
REPLY = "Batch answer."


@dataclass
class BatchState:
    files: dict[str, tuple[dict[str, Any], bytes]] = field(default_factory=dict)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)


STATE = web.AppKey("demo_batch_state", BatchState)


def _file(state: BatchState, data: bytes, filename: str, purpose: str) -> dict[str, Any]:
    file_id = f"file-{uuid.uuid4().hex[:24]}"
    obj = {
        "id": file_id,
        "object": "file",
        "bytes": len(data),
        "created_at": int(time.time()),
        "filename": filename,
        "purpose": purpose,
        "status": "processed",
    }
    state.files[file_id] = (obj, data)
    return obj


async def create_file(request: web.Request) -> web.Response:
    call = await open_call(request, ERRORS)
    upload = call.body.get("file")
    if not isinstance(upload, dict) or call.body.get("purpose") != "batch":
        raise ProviderError(400, ERRORS(400, "'file' and purpose 'batch' are required"))
    state = request.app[STATE]
    return web.json_response(_file(state, upload["data"], str(upload["filename"]), "batch"))


def _stored(request: web.Request) -> tuple[dict[str, Any], bytes]:
    found = request.app[STATE].files.get(request.match_info["file_id"])
    if found is None:
        raise ProviderError(404, ERRORS(404, "No such File object"))
    return found


async def retrieve_file(request: web.Request) -> web.Response:
    return web.json_response(_stored(request)[0])


async def file_content(request: web.Request) -> web.Response:
    return web.Response(body=_stored(request)[1], content_type="application/octet-stream")


def _ran_on(line: dict[str, Any]) -> str | None:
    parts = str(line.get("custom_id", "")).split(":")
    return parts[1] if len(parts) > 2 and parts[0] == "ran-on" else None


def _answer(request: web.Request, line: dict[str, Any]) -> dict[str, Any]:
    count = request.app[CONTROL].counter
    body = line.get("body") or {}
    if str(line.get("custom_id", "")).startswith("fail"):
        error = {"error": {"message": "Invalid request", "type": "invalid_request_error"}}
        response: dict[str, Any] = {"status_code": 400, "body": error}
    elif line.get("url") == "/v1/embeddings":
        tokens = count(str(body.get("input")))
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        data = [{"object": "embedding", "index": 0, "embedding": [0.0] * 8}]
        response = {"status_code": 200, "body": {"object": "list", "data": data, "usage": usage}}
    else:
        prompt = sum(count(str(m.get("content"))) for m in body.get("messages") or [])
        out = count(REPLY)
        message = {"role": "assistant", "content": REPLY}
        answer = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": _ran_on(line) or body.get("model"),
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            # a test's usage override makes it lie, as on the foreground routes
            "usage": request.app[CONTROL].usage
            or {"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out},
        }
        response = {"status_code": 200, "body": answer}
    return {
        "id": f"batch_req_{uuid.uuid4().hex[:12]}",
        "custom_id": line.get("custom_id"),
        "response": response,
        "error": None,
    }


def _run(request: web.Request, batch: dict[str, Any], status: str, share: float = 1.0) -> None:
    state = request.app[STATE]
    lines = [
        orjson.loads(raw)
        for raw in state.files[batch["input_file_id"]][1].splitlines()
        if raw.strip()
    ]
    ran = [_answer(request, line) for line in lines[: int(len(lines) * share)]]
    output = b"".join(orjson.dumps(r) + b"\n" for r in ran)
    failed = sum(r["response"]["status_code"] != 200 for r in ran)
    batch["output_file_id"] = _file(state, output, "output.jsonl", "batch_output")["id"]
    batch["status"] = status
    batch["request_counts"] = {
        "total": len(lines),
        "completed": len(ran) - failed,
        "failed": failed,
    }
    batch[f"{status}_at"] = int(time.time())


async def create_batch(request: web.Request) -> web.Response:
    call = await open_call(request, ERRORS)
    file_id = call.body.get("input_file_id")
    if file_id not in request.app[STATE].files:
        raise ProviderError(400, ERRORS(400, "Invalid input_file_id"))
    batch = {
        "id": f"batch_{uuid.uuid4().hex[:24]}",
        "object": "batch",
        "endpoint": call.body.get("endpoint"),
        "input_file_id": file_id,
        "completion_window": call.body.get("completion_window", "24h"),
        "status": "validating",
        "created_at": int(time.time()),
        "request_counts": {"total": 0, "completed": 0, "failed": 0},
        "metadata": call.body.get("metadata"),
    }
    request.app[STATE].batches[batch["id"]] = batch
    return web.json_response(batch)


def _batch(request: web.Request) -> dict[str, Any]:
    batch = request.app[STATE].batches.get(request.match_info["batch_id"])
    if batch is None:
        raise ProviderError(404, ERRORS(404, "No such batch"))
    return batch


async def retrieve_batch(request: web.Request) -> web.Response:
    batch = _batch(request)
    if batch["status"] == "validating":
        _run(request, batch, "completed")
    return web.json_response(batch)


async def list_batches(request: web.Request) -> web.Response:
    """Newest first, `limit` (20) a page after the id `after`, as OpenAI pages them."""
    newest = list(reversed(request.app[STATE].batches.values()))
    after = request.query.get("after")
    ids = [b["id"] for b in newest]
    start = ids.index(after) + 1 if after in ids else 0
    limit = int(request.query.get("limit", "20"))
    page = newest[start : start + limit]
    return web.json_response({
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": start + limit < len(newest),
    })  # fmt: skip


async def cancel_batch(request: web.Request) -> web.Response:
    batch = _batch(request)
    if batch["status"] == "validating":
        _run(request, batch, "cancelled", share=0.5)
    return web.json_response(batch)


def add_routes(app: web.Application) -> None:
    app[STATE] = BatchState()
    app.router.add_post("/v1/files", create_file)
    app.router.add_get("/v1/files/{file_id}", retrieve_file)
    app.router.add_get("/v1/files/{file_id}/content", file_content)
    app.router.add_post("/v1/batches", create_batch)
    app.router.add_get("/v1/batches", list_batches)
    app.router.add_get("/v1/batches/{batch_id}", retrieve_batch)
    app.router.add_post("/v1/batches/{batch_id}/cancel", cancel_batch)
