"""The Batch API through Meterway: files (purpose `batch`), batches created, retrieved and
cancelled, and file contents, each for the key that made them only (another key's id gets
the 404 an unknown id gets). Scope `batches`.

Uploading a file reads and prices every line (llm/reading/batch_input.py) before the file goes on
to the provider, re-serialized from what was priced (never the bytes uploaded); creating a
batch reserves that worst case at the batch tier's rates; a retrieve or cancel that shows
the batch ended settles it from its output file (services/metering/batches.py), as does the
gateway's own poll. That retrieve and every later one carry the batch's debit, and its
output file, downloaded here, each billed line's share of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import orjson
from aiohttp import web

from billing import authority
from gateway.errors import InvalidRequest, PermissionDenied, UpstreamError
from gateway.http.appkeys import BATCH_BOOK, PROXYING, Proxying
from gateway.http.headers import provider_error_headers, request_id_headers
from gateway.http.middleware import REQUEST_ID
from gateway.http.openapi.paths import llm as llm_doc
from gateway.http.proxy.provider_answers import read_answer, refused, scrubbed_error
from gateway.http.proxy.uploads import form_body, read_upload
from gateway.http.routing import PROVIDER_CALL, Route, declare
from gateway.llm.cost_field import costed_media
from gateway.llm.reading.batch_input import BatchInput, read_batch_input
from gateway.llm.reading.calls import parse_json
from gateway.llm.reading.uploads import PartRewrite, Upload, part_lines
from gateway.llm.upstream import Upstream
from gateway.services.metering.batches import FetchBatch, FetchOutput
from gateway.stores.records import KeyRecord, OwnedResponse

PROVIDER = "openai"  # the Batch API is OpenAI's
CLIENT_ERRORS = frozenset({400, 404, 409, 422, 429})


async def _key(request: web.Request, p: Proxying) -> KeyRecord:
    key = await p.keys.resolve(request)
    await p.meter.precheck(request[REQUEST_ID], key, key_only=True)
    if key.scopes and "batches" not in key.scopes:
        raise PermissionDenied("This API key lacks the 'batches' scope.")
    return key


def _answer(
    request: web.Request, status: int, raw: bytes, upstream: Mapping[str, str]
) -> web.Response:
    headers = request_id_headers(request[REQUEST_ID])
    if status >= 400:
        if status not in CLIENT_ERRORS:
            raise UpstreamError(
                f"The provider answered {status}.", extra={"upstream_status": status}
            )
        headers = provider_error_headers(headers, upstream)
        raw = scrubbed_error(request, raw)
    kind = upstream.get("content-type") or "application/json"
    return web.Response(status=status, body=raw, headers={**headers, "content-type": kind})


def _priced(upload: Upload, key: KeyRecord, p: Proxying) -> BatchInput:
    """The upload's batch lines read and priced (blocking: run in a worker thread)."""
    body = form_body(upload)
    if body.get("purpose") != "batch":
        raise InvalidRequest("Only files of purpose 'batch' are accepted here.", param="purpose")
    part = next((f for f in upload.files if f.name == "file"), None)
    if part is None:
        raise InvalidRequest("'file' must be an uploaded JSONL file.", param="file")
    rewrite = PartRewrite(upload, part)  # the provider gets the lines as priced
    batch = read_batch_input(part_lines(upload, part), key, p.pricing, p.counter, rewrite.write)
    price = p.pricing.lookup(batch.model)
    if price is None or price.provider != PROVIDER:
        raise InvalidRequest(f"'{batch.model}' is not served by OpenAI's Batch API.", param="file")
    rewrite.done()
    return batch


async def create_file(request: web.Request) -> web.StreamResponse:
    p = request.app[PROXYING]
    key = await _key(request, p)
    upload = await read_upload(
        request, p.settings.max_upload_bytes, p.settings.client_body_timeout_s
    )
    try:
        batch = await asyncio.to_thread(_priced, upload, key, p)
        answer = await p.upstream.upload(PROVIDER, "/files", request.headers, upload.encoded(""))
        async with answer:
            if answer.status >= 300:
                return await refused(request, answer, request_id_headers(request[REQUEST_ID]))
            raw = await read_answer(p.settings, answer)
    finally:
        upload.close()
    created = orjson.loads(raw)
    await request.app[BATCH_BOOK].file_uploaded(key, str(created["id"]), batch)
    headers = request_id_headers(request[REQUEST_ID])
    return web.Response(body=raw, content_type="application/json", headers=headers)


async def _get(
    p: Proxying, request: web.Request, path: str
) -> tuple[int, bytes, Mapping[str, str]]:
    return await p.upstream.call(PROVIDER, "GET", path, request.headers, None)


async def retrieve_file(request: web.Request) -> web.Response:
    p = request.app[PROXYING]
    key = await _key(request, p)
    rec = await request.app[BATCH_BOOK].file_of(key, request.match_info["file_id"])
    return _answer(request, *await _get(p, request, f"/files/{rec.file_id}"))


async def file_content(request: web.Request) -> web.Response:
    p = request.app[PROXYING]
    key = await _key(request, p)
    book = request.app[BATCH_BOOK]
    rec = await book.file_of(key, request.match_info["file_id"])
    status, raw, upstream = await _get(p, request, f"/files/{rec.file_id}/content")
    if status == 200 and rec.batch_id:
        raw = await book.costed_output(rec, raw)
    return _answer(request, status, raw, upstream)


def output_fetcher(upstream: Upstream) -> FetchOutput:
    """An output file's content, for settling a batch (b"" when it cannot be read)."""

    async def fetch(file_id: str) -> bytes:
        status, raw, _ = await upstream.call(PROVIDER, "GET", f"/files/{file_id}/content", {}, None)
        return raw if status == 200 else b""

    return fetch


def batch_fetcher(upstream: Upstream) -> FetchBatch:
    async def fetch(rec: OwnedResponse) -> tuple[int, object]:
        status, raw, _ = await upstream.call(
            PROVIDER, "GET", f"/batches/{rec.response_id}", {}, None
        )
        return status, _json(raw)

    return fetch


def _json(raw: bytes) -> object:
    try:
        return orjson.loads(raw)
    except ValueError:
        return None


async def create_batch(request: web.Request) -> web.Response:
    """Reserve the input file's worst case, then create the batch; released if it is not."""
    p, book = request.app[PROXYING], request.app[BATCH_BOOK]
    key = await _key(request, p)
    body = parse_json(await request.read())
    file_id = body.get("input_file_id")
    if not isinstance(file_id, str):
        raise InvalidRequest("'input_file_id' is required.", param="input_file_id")
    rec = await book.file_of(key, file_id)
    if body.get("endpoint") != rec.endpoint:
        raise InvalidRequest(
            f"'endpoint' must be {rec.endpoint}, as its file's lines.", param="endpoint"
        )
    admitted, call = await p.meter.admit(request[REQUEST_ID], key, book.call_for(rec))
    try:
        status, raw, upstream = await p.upstream.call(
            PROVIDER, "POST", "/batches", request.headers, orjson.dumps(body)
        )
        created = _json(raw)
        if status >= 300 or not isinstance(created, dict) or not isinstance(created.get("id"), str):
            p.meter.release_later(admitted, forwarded=True)
            return _answer(request, status if status >= 300 else 502, raw, upstream)
        await book.created(created["id"], call, admitted)
    except BaseException:
        p.meter.release_later(admitted, forwarded=True)
        raise
    return _answer(request, status, raw, upstream)


async def _batch(request: web.Request, method: str, suffix: str) -> web.Response:
    p, book = request.app[PROXYING], request.app[BATCH_BOOK]
    key = await _key(request, p)
    rec = await book.owned_by(key, request.match_info["batch_id"])
    path = f"/batches/{rec.response_id}{suffix}"
    status, raw, upstream = await p.upstream.call(PROVIDER, method, path, request.headers, None)
    cost = None
    if status == 200:
        cost = await book.cost_of(rec, _json(raw), output_fetcher(p.upstream))
    if cost is None:
        return _answer(request, status, raw, upstream)
    answer = _answer(request, status, costed_media(raw, cost), upstream)
    answer.headers["x-meterway-cost-micros"] = str(cost)
    return answer


async def list_batches(request: web.Request) -> web.Response:
    """The provider's page of batches, keeping this key's own, each settled one with its
    debit (a batch first seen ended here is settled here); a page may hold fewer than
    `limit`, and `after` pages on through the provider's ids as ever."""
    p, book = request.app[PROXYING], request.app[BATCH_BOOK]
    key = await _key(request, p)
    path = "/batches" + (f"?{request.query_string}" if request.query_string else "")
    status, raw, upstream = await p.upstream.call(PROVIDER, "GET", path, request.headers, None)
    page = _json(raw) if status == 200 else None
    if not isinstance(page, dict) or not isinstance(page.get("data"), list):
        return _answer(request, status, raw, upstream)
    page["data"] = await book.own_page(key, page["data"], output_fetcher(p.upstream))
    return _answer(request, status, orjson.dumps(page), upstream)


async def retrieve_batch(request: web.Request) -> web.Response:
    return await _batch(request, "GET", "")


async def cancel_batch(request: web.Request) -> web.Response:
    return await _batch(request, "POST", "/cancel")


def add_routes(app: web.Application) -> None:
    declare(
        app.router,
        Route(
            "POST",
            "/v1/files",
            create_file,
            authority.PROXY,
            PROVIDER_CALL,
            doc=llm_doc.CREATE_FILE,
        ),
        Route(
            "GET", "/v1/files/{file_id}", retrieve_file, authority.PROXY, doc=llm_doc.RETRIEVE_FILE
        ),
        Route(
            "GET",
            "/v1/files/{file_id}/content",
            file_content,
            authority.PROXY,
            doc=llm_doc.FILE_CONTENT,
        ),
        Route(
            "POST",
            "/v1/batches",
            create_batch,
            authority.PROXY,
            PROVIDER_CALL,
            doc=llm_doc.CREATE_BATCH,
        ),
        Route("GET", "/v1/batches", list_batches, authority.PROXY, doc=llm_doc.LIST_BATCHES),
        Route(
            "GET",
            "/v1/batches/{batch_id}",
            retrieve_batch,
            authority.PROXY,
            doc=llm_doc.RETRIEVE_BATCH,
        ),
        Route(
            "POST",
            "/v1/batches/{batch_id}/cancel",
            cancel_batch,
            authority.PROXY,
            PROVIDER_CALL,
            doc=llm_doc.CANCEL_BATCH,
        ),
    )
