"""Answers that cost nothing: token counts, one model, and the build that is running.

`POST /v1/messages/count_tokens` and Gemini's `:countTokens` are authenticated but not
billed: the provider's own count when it answers, else the gateway's local estimate
(`x-meterway-token-count` says which). `GET /v1/models/{model}` answers only for a model
this key may use, in Anthropic's shape when the Anthropic SDK asks. `/api/ping` says which
build runs.
"""

from __future__ import annotations

import os
from typing import Any

import orjson
from aiohttp import web

from billing import authority
from gateway.errors import MeterwayError, ModelNotFound
from gateway.http.appkeys import COUNTER, KEYS, METER, PRICING, UPSTREAM
from gateway.http.headers import provider_error_headers, request_id_headers
from gateway.http.middleware import REQUEST_ID
from gateway.http.openapi.paths import llm as llm_doc
from gateway.http.openapi.paths import proxy as proxy_doc
from gateway.http.proxy.provider_answers import scrubbed_error
from gateway.http.routing import PROVIDER_CALL, Route, declare
from gateway.llm import endpoints
from gateway.llm.endpoint import Endpoint
from gateway.llm.gemini.readers import read_gemini
from gateway.llm.reading.calls import model_for, parse_json
from gateway.llm.reading.readers import tools_tokens

COUNT_PATH = "/v1/messages/count_tokens"
PROVIDER_ERRORS = frozenset({400, 404, 413, 422, 429})
PING_ENV = {"image": "MW_IMAGE", "version": "MW_VERSION", "commit": "MW_GIT_COMMIT"}


def _local_count(request: web.Request, body: dict[str, Any], encoding: str) -> int:
    messages = body.get("messages")
    counter = request.app[COUNTER]
    listed = [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []
    prompt = counter.count_anthropic_prompt(encoding, body.get("system"), listed)
    return prompt + tools_tokens(body, encoding, counter)


async def count_tokens(request: web.Request) -> web.Response:
    return await _count(request, endpoints.MESSAGES)


async def gemini_count_tokens(request: web.Request) -> web.Response:
    return await _count(request, endpoints.GEMINI)


async def _count(request: web.Request, endpoint: Endpoint) -> web.Response:
    key = await request.app[KEYS].resolve(request)
    await request.app[METER].precheck(request[REQUEST_ID], key, key_only=True)
    body = parse_json(await request.read())
    gemini = endpoint is endpoints.GEMINI
    if gemini:
        body["model"] = request.match_info["model"]
    price = model_for(endpoint, body, key, request.app[PRICING])
    if gemini:
        forwarded, path = {k: v for k, v in body.items() if k != "model"}, ":countTokens"
    else:
        forwarded, path = {**body, "model": price.upstream_model}, COUNT_PATH
    headers = request_id_headers(request[REQUEST_ID])
    try:
        status, answer, upstream_headers = await request.app[UPSTREAM].call(
            price.provider,
            "POST",
            path,
            request.headers,
            orjson.dumps(forwarded),
            price.upstream_model,
        )
    except MeterwayError:
        status, answer, upstream_headers = 0, b"", {}
    if status == 200 or status in PROVIDER_ERRORS:
        if status != 200:
            headers = provider_error_headers(headers, upstream_headers)
            answer = scrubbed_error(request, answer)
        headers["x-meterway-token-count"] = "provider"
        return web.Response(
            status=status, body=answer, content_type="application/json", headers=headers
        )
    headers["x-meterway-token-count"] = "local"
    if gemini:
        sizing = read_gemini(body, price, request.app[COUNTER])
        return web.json_response({"totalTokens": sizing.input_tokens}, headers=headers)
    count = _local_count(request, body, price.encoding)
    return web.json_response({"input_tokens": count}, headers=headers)


async def retrieve_model(request: web.Request) -> web.Response:
    key = await request.app[KEYS].resolve(request)
    name = request.match_info["model"]
    price = request.app[PRICING].lookup(name)
    if price is None or (key.models and price.name not in key.models):
        raise ModelNotFound(f"The model '{name}' does not exist or you do not have access to it.")
    headers = request_id_headers(request[REQUEST_ID])
    if "anthropic-version" in request.headers:
        body: dict[str, Any] = {
            "type": "model",
            "id": name,
            "display_name": price.name,
            "created_at": "1970-01-01T00:00:00Z",
        }
    else:
        body = {"id": name, "object": "model", "created": 0, "owned_by": price.provider}
    return web.json_response(body, headers=headers)


async def ping(request: web.Request) -> web.Response:
    """Empty strings, never guesses, for what the environment does not say."""
    build = {name: os.environ.get(var, "") for name, var in PING_ENV.items()}
    catalogue = request.app[PRICING].catalogue_version
    return web.json_response({**build, "price_catalogue": catalogue or ""})


def add_routes(app: web.Application) -> None:
    declare(
        app.router,
        Route(
            "POST",
            COUNT_PATH,
            count_tokens,
            authority.PROXY,
            PROVIDER_CALL,
            doc=llm_doc.COUNT_TOKENS,
        ),
    )
    for version in ("v1", "v1beta"):
        declare(
            app.router,
            Route(
                "POST",
                f"/{version}/models/{{model:[^/:]+}}:countTokens",
                gemini_count_tokens,
                authority.PROXY,
                PROVIDER_CALL,
                doc=proxy_doc.gemini,
            ),
        )
    declare(
        app.router,
        Route(
            "GET", "/v1/models/{model}", retrieve_model, authority.PROXY, doc=llm_doc.RETRIEVE_MODEL
        ),
        Route("GET", "/api/ping", ping, authority.PUBLIC, doc=llm_doc.PING),
    )
