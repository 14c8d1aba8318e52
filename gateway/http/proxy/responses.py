"""Retrieve, cancel, list input items of and delete a Responses API response, owner only.

The gateway remembers which key created each response (gateway/services/metering/responses.py); any
other key gets the same 404 as for an id that does not exist. A retrieve or cancel that
shows a background response finished settles it there; it and every later one carry its cost.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from aiohttp import web

from billing import authority
from gateway.errors import NotFound, UpstreamError
from gateway.http.appkeys import KEYS, PRICING, PROXYING, RESPONSE_BOOK, UPSTREAM
from gateway.http.headers import provider_error_headers, request_id_headers
from gateway.http.middleware import REQUEST_ID
from gateway.http.observability.observe import timing
from gateway.http.openapi.paths import llm as llm_doc
from gateway.http.proxy.provider_answers import scrubbed_error
from gateway.http.routing import PROVIDER_CALL, Route, declare
from gateway.llm.cost_field import costed_answer
from gateway.llm.providers import BYOK_KEYS
from gateway.stores.records import OwnedResponse

CLIENT_ERRORS = frozenset({400, 404, 409, 422, 429})


async def _upstream(
    request: web.Request, rec: OwnedResponse, method: str, suffix: str
) -> tuple[int, bytes, Mapping[str, str]]:
    price = request.app[PRICING].lookup(rec.model)
    if price is None:
        raise NotFound(f"No response with id '{rec.response_id}' found.", param="response_id")
    provider = price.provider
    path = f"/responses/{rec.response_id}{suffix}"
    if request.query_string:
        path += "?" + request.query_string
    body = await request.read() if request.can_read_body else None
    clock = timing(request)
    clock.model = rec.model
    byok = request.app[PROXYING].byok
    if byok is not None:  # a response made with the account's own key is read with it
        BYOK_KEYS.set(byok.keys_of(rec.account_id))
    with clock.upstream():
        return await request.app[UPSTREAM].call(provider, method, path, request.headers, body)


async def _proxied(request: web.Request, method: str, suffix: str = "") -> web.Response:
    key = await request.app[KEYS].resolve(request)
    book = request.app[RESPONSE_BOOK]
    rec = await book.owned_by(key, request.match_info["response_id"])
    status, raw, upstream_headers = await _upstream(request, rec, method, suffix)
    headers = request_id_headers(request[REQUEST_ID])
    if status == 404 and method == "GET" and not suffix:
        await book.gone(rec)
    if status >= 400:
        if status not in CLIENT_ERRORS:
            raise UpstreamError(
                f"The provider answered {status}.", extra={"upstream_status": status}
            )
        headers = provider_error_headers(headers, upstream_headers)
        raw = scrubbed_error(request, raw)
    elif suffix in ("", "/cancel"):
        cost = await book.cost_of(rec, _json(raw))
        if cost is not None:  # the debit, as a create carries it
            headers["x-meterway-cost-micros"] = str(cost)
            raw = costed_answer(raw, cost)
    kind = upstream_headers.get("content-type") or "application/json"
    return web.Response(status=status, body=raw, headers={**headers, "content-type": kind})


def _json(raw: bytes) -> object:
    try:
        return orjson.loads(raw)
    except ValueError:
        return None


async def retrieve(request: web.Request) -> web.Response:
    return await _proxied(request, "GET")


async def cancel(request: web.Request) -> web.Response:
    return await _proxied(request, "POST", "/cancel")


async def input_items(request: web.Request) -> web.Response:
    return await _proxied(request, "GET", "/input_items")


async def delete(request: web.Request) -> web.Response:
    return await _proxied(request, "DELETE")


def add_routes(app: web.Application) -> None:
    declare(
        app.router,
        Route(
            "GET", "/v1/responses/{response_id}", retrieve, authority.PROXY, doc=llm_doc.RETRIEVE
        ),
        Route(
            "POST",
            "/v1/responses/{response_id}/cancel",
            cancel,
            authority.PROXY,
            PROVIDER_CALL,
            doc=llm_doc.CANCEL,
        ),
        Route(
            "GET",
            "/v1/responses/{response_id}/input_items",
            input_items,
            authority.PROXY,
            doc=llm_doc.INPUT_ITEMS,
        ),
        Route(
            "DELETE",
            "/v1/responses/{response_id}",
            delete,
            authority.PROXY,
            PROVIDER_CALL,
            doc=llm_doc.DELETE,
        ),
    )
