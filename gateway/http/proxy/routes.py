# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""The proxied routes: authenticate, reserve, forward, relay, settle.

Kept whole: a proxied call's one path (authenticate, reserve, forward, relay, settle),
compiled as one module.

Postgres is never awaited here: the reservation is one Redis round trip and the ledger row
is queued by the settle script for the settler to write.
"""

from __future__ import annotations

import asyncio
from functools import partial

import orjson
from aiohttp import web

from billing import authority
from billing.metering.usage import Usage
from billing.money.admission import Admitted
from gateway.config.settings import Settings
from gateway.errors import UpstreamError, UpstreamUnreachable
from gateway.http.appkeys import PROXYING, SETTINGS, Proxying
from gateway.http.client_address import client_address
from gateway.http.headers import ratelimit_headers, request_id_headers
from gateway.http.middleware import REQUEST_ID
from gateway.http.observability.observe import timing
from gateway.http.observability.tracer import finished, streamed, trace_into
from gateway.http.openapi.paths import llm as llm_doc
from gateway.http.openapi.paths import proxy as proxy_doc
from gateway.http.proxy.call_reading import key_and_call, key_and_upload
from gateway.http.proxy.failover import open_deployed
from gateway.http.proxy.media import relay_media
from gateway.http.proxy.own_keys import check_own_keys, own_key_refused, with_own_keys
from gateway.http.proxy.owned import own_response
from gateway.http.proxy.provider_answers import read_answer, refused, scrubbed_event
from gateway.http.routing import PROVIDER_CALL, Doc, Route, declare
from gateway.http.server import CLIENT_LEFT
from gateway.llm import endpoints
from gateway.llm.cost_field import costed_answer, costed_media
from gateway.llm.endpoint import Endpoint
from gateway.llm.http1 import Answer
from gateway.llm.reading.calls import Call, upstream_body
from gateway.llm.relay import (
    RECEIPT_WIRES,
    StreamLimits,
    StreamOutcome,
    StreamRelay,
    json_usage,
)
from gateway.llm.sending import send
from gateway.services.money.settlement import Hold
from gateway.services.proof.receipt_header import RECEIPT_HEADER
from gateway.stores.records import KeyRecord

# Set when the client leaves a stream: the relay stops writing and drains the provider.
CLIENT_GONE = web.RequestKey("client_gone", asyncio.Event)


# The output cap a call was fitted to and sent with, when its worst case did not fit what
# its caller had left (services/money/meter/metering.py `_fit`): said in
# x-meterway-output-cap-fitted.
FITTED = web.RequestKey("output_fitted", int)


def _headers(request: web.Request, admitted: Admitted) -> dict[str, str]:
    headers = request_id_headers(request[REQUEST_ID])
    headers.update(ratelimit_headers(admitted.requests, admitted.tokens, admitted.now_ms))
    fitted = request.get(FITTED)
    if fitted is not None:
        headers["x-meterway-output-cap-fitted"] = str(fitted)
    return headers


async def _admit(
    request: web.Request, p: Proxying, key: KeyRecord, call: Call
) -> tuple[Admitted, Call]:
    asked = call.max_output_tokens
    admitted, call = await p.meter.admit(request[REQUEST_ID], key, call)
    if call.max_output_tokens < asked:
        request[FITTED] = call.max_output_tokens
    return admitted, call


async def _refused_upstream(
    request: web.Request,
    p: Proxying,
    resp: Answer,
    hold: Hold,
    headers: dict[str, str],
    call: Call,
) -> web.StreamResponse:
    """The provider did not answer with success: nothing is billed, the reservation is
    released, and the request stays counted in request windows (it was forwarded)."""
    own_key_refused(p, call, hold.admitted, resp)
    answer = await refused(request, resp, headers)
    p.meter.release_later(hold.admitted, forwarded=True)
    return answer


async def _open(request: web.Request, p: Proxying, call: Call, hold: Hold) -> Answer:
    hold.forwarded = True
    try:
        with timing(request).upstream():
            if call.upload is not None:
                return await send(p.upstream, call, request.headers)
            return await p.upstream.post(
                call.price.provider,
                call.endpoint.path,
                request.headers,
                upstream_body(call),
                call.price.upstream_model,
            )
    except UpstreamUnreachable:
        hold.forwarded = False  # nothing reached the provider
        raise


async def _plain(request: web.Request, p: Proxying, call: Call, hold: Hold) -> web.StreamResponse:
    meter, admitted = p.meter, hold.admitted
    headers = _headers(request, admitted)
    call, resp = await _opened(request, p, call, hold)
    async with resp:
        if resp.status >= 300:
            return await _refused_upstream(request, p, resp, hold, headers, call)
        clock = timing(request)
        with clock.upstream():
            raw = await read_answer(p.settings, resp)
        try:
            payload = orjson.loads(raw)
        except ValueError as exc:
            raise UpstreamError("The provider's answer was not JSON; nothing was billed.") from exc
    answer = payload if isinstance(payload, dict) else {}
    stored = call.endpoint.stored_id(answer)
    if stored is not None and not call.endpoint.finished(answer):
        hold.settling = True  # the response book settles it when it is done
        await own_response(request, call, admitted, stored, pending=True)
        return web.Response(body=raw, content_type="application/json", headers=headers)
    usage = (
        json_usage(call, payload, p.counter)
        if isinstance(payload, dict)
        else Usage(input_tokens=call.input_tokens, source="counted")
    )
    cost = await meter.settle(hold, call, usage)
    if p.traced:
        finished(clock, answer)
        trace_into(clock, headers)
    if stored is not None:
        await own_response(request, call, admitted, stored, pending=False)
    headers.update(_cost_headers(cost))
    receipt = _receipt(p, hold)
    if receipt is not None:
        headers[RECEIPT_HEADER] = receipt
    if call.endpoint.answer is not None:  # the client speaks another wire
        raw = orjson.dumps(call.endpoint.answer(answer, call.price.name))
    body = raw if cost is None else _costed(raw, cost, call)
    return web.Response(body=body, content_type="application/json", headers=headers)


def _costed(raw: bytes, cost: int, call: Call) -> bytes:
    """The debit in the answer's usage; an image answer without one (dall-e-3's) gets it
    top-level, since a client reads nothing else."""
    if call.price.kind == "image":
        return costed_media(raw, cost)
    return costed_answer(raw, cost, call.endpoint.answer_cost_path)


async def _opened(request: web.Request, p: Proxying, call: Call, hold: Hold) -> tuple[Call, Answer]:
    """The call as sent and its answer: through its deployments in order, else directly."""
    if call.deployments:
        return await open_deployed(request, p.upstream, p.upstreams, call, hold)
    return call, await _open(request, p, call, hold)


async def _media(request: web.Request, p: Proxying, call: Call, hold: Hold) -> web.StreamResponse:
    """A plain answer that may be other than JSON (http/proxy/media.py)."""
    headers = _headers(request, hold.admitted)
    call, resp = await _opened(request, p, call, hold)
    async with resp:
        if resp.status >= 300:
            return await _refused_upstream(request, p, resp, hold, headers, call)
        return await relay_media(request, p, call, hold, resp, headers)


def _limits(settings: Settings) -> StreamLimits:
    return StreamLimits(settings.upstream_idle_timeout_s, settings.max_sse_event_bytes)


def _receipt(p: Proxying, hold: Hold) -> str | None:
    """The call's signed receipt, for an account that asked for one on its answers
    (services/proof/receipt_header.py); None otherwise, or when nothing was debited."""
    receipts, settled, a = p.receipts, hold.settled, hold.admitted
    if receipts is None or settled is None or not receipts.wanted(a.account_id):
        return None
    return receipts.sign(a.account_id, a.key_id, a.request_id, settled)


def _cost_headers(cost: int | None) -> dict[str, str]:
    """The cost the settlement debits (Meter.settle: whether or not Redis answered in time);
    pending only when nothing could debit it (a lost reservation with no rebook)."""
    if cost is None:
        return {"x-meterway-settlement": "pending"}
    return {"x-meterway-cost-micros": str(cost)}


async def _streamed(
    request: web.Request, p: Proxying, call: Call, hold: Hold
) -> web.StreamResponse:
    admitted = hold.admitted
    headers = _headers(request, admitted)
    call, resp = await _opened(request, p, call, hold)
    async with resp:
        if resp.status >= 300:
            return await _refused_upstream(request, p, resp, hold, headers, call)
        headers["content-type"], headers["cache-control"] = "text/event-stream", "no-cache"
        if p.traced:
            trace_into(timing(request), headers)
        out = web.StreamResponse(headers=headers)
        try:
            await out.prepare(request)
        except ConnectionResetError:
            # Gone before the headers went out: read on for the provider's usage, as
            # for a client that leaves mid-stream; the call reached the provider.
            request[CLIENT_GONE].set()
        parser = p.upstream.stream_parser(call.price.provider)
        scrub = partial(scrubbed_event, p.settings)
        relay = StreamRelay(
            call, resp, out, p.counter, _limits(p.settings), request[CLIENT_GONE], parser, scrub
        )
        with timing(request).upstream():
            outcome = await relay.run()
        runs_on = call.body.get("background") is True and not outcome.finished
        if outcome.stored_id is not None and runs_on:
            # A background response outlives its stream: it is settled when it ends.
            hold.settling = True
            await own_response(request, call, admitted, outcome.stored_id, pending=True)
            await relay.finish(None)
            return out
        cancelled = await _settle_stream(request, p, call, hold, relay, outcome)
    if outcome.stored_id is not None:
        await own_response(request, call, admitted, outcome.stored_id, pending=False)
    if cancelled:
        raise asyncio.CancelledError
    return out


async def _settle_stream(
    request: web.Request,
    p: Proxying,
    call: Call,
    hold: Hold,
    relay: StreamRelay,
    outcome: StreamOutcome,
) -> bool:
    """Settle a relayed stream, then relay its held end, the usage event with the debit
    (none while the settlement is pending); True if the handler was cancelled meanwhile.

    Decided before leaving the upstream block: a cancel landing in its exit must not turn a
    delivered stream into a release."""
    cost = None
    if outcome.billable:
        cost = await p.meter.settle(hold, call, outcome.usage)
    else:
        p.meter.release_later(hold.admitted, forwarded=True)
    if p.traced:
        streamed(timing(request), relay.tally)
    receipt = _receipt(p, hold) if call.endpoint.wire in RECEIPT_WIRES else None
    with timing(request).upstream():
        return await relay.finish(cost, receipt) or outcome.cancelled


async def _uploaded(request: web.Request, endpoint: Endpoint) -> web.StreamResponse:
    """A multipart route: `_metered` with the body read from its spool, which is removed
    once the call is done."""
    p = request.app[PROXYING]
    key, call = await key_and_upload(request, p, endpoint)
    try:
        return await _serve(request, p, key, call)
    finally:
        if call.upload is not None:
            call.upload.close()


async def _metered(request: web.Request, endpoint: Endpoint) -> web.StreamResponse:
    # `_serve` written out here: one frame less on the JSON routes' hot path.
    p = request.app[PROXYING]
    key, call = await key_and_call(request, p, endpoint)
    timing(request).model = call.price.name
    call, seen = with_own_keys(p, key.account_id, call)
    asked = call.max_output_tokens
    admitted, call = await p.meter.admit(request[REQUEST_ID], key, call)
    if call.max_output_tokens < asked:  # `_admit` written out too
        request[FITTED] = call.max_output_tokens
    if admitted.byok_version > seen:
        check_own_keys(p, admitted, seen)
    if p.sightings is not None:
        p.sightings.seen(
            key.account_id, key.key_id, client_address(request), admitted.request_id, call.body
        )
    forward = _streamed if call.stream else _media if endpoint.media else _plain
    if call.stream:
        request[CLIENT_GONE] = asyncio.Event()
    request[CLIENT_LEFT] = _stream_client_left if call.stream else _plain_client_left
    async with p.meter.serving(admitted) as hold:
        return await forward(request, p, call, hold)


async def _serve(
    request: web.Request, p: Proxying, key: KeyRecord, call: Call
) -> web.StreamResponse:
    timing(request).model = call.price.name
    call, seen = with_own_keys(p, key.account_id, call)
    admitted, call = await _admit(request, p, key, call)
    if admitted.byok_version > seen:
        check_own_keys(p, admitted, seen)
    if p.sightings is not None:
        p.sightings.seen(
            key.account_id, key.key_id, client_address(request), admitted.request_id, call.body
        )
    forward = _streamed if call.stream else _media if call.endpoint.media else _plain
    if call.stream:
        request[CLIENT_GONE] = asyncio.Event()  # set when its client leaves: stop writing
    # Admitted: from here the call outlives its client (until now a client that left
    # cancelled it, before anything was forwarded).
    request[CLIENT_LEFT] = _stream_client_left if call.stream else _plain_client_left
    # A failure before settlement began releases the reservation; nothing is left held.
    async with p.meter.serving(admitted) as hold:
        return await forward(request, p, call, hold)


def _plain_client_left(request: web.Request, serving: asyncio.Task[None]) -> None:
    """The client went away: a plain call runs on and is billed in full if the provider
    completes it."""


def _stream_client_left(request: web.Request, serving: asyncio.Task[None]) -> None:
    """The client went away: a stream stops writing and keeps reading for the provider's
    final usage (hidden reasoning included) for up to STREAM_DRAIN_TIMEOUT_S, then is
    cancelled."""
    request[CLIENT_GONE].set()
    drain_s = request.app[SETTINGS].stream_drain_timeout_s
    asyncio.get_running_loop().call_later(drain_s, serving.cancel)


async def list_models(request: web.Request) -> web.Response:
    p = request.app[PROXYING]
    key = await p.keys.resolve(request)
    await p.meter.precheck(request[REQUEST_ID], key, key_only=True)
    served = [m for m in p.pricing.served() if not key.models or m.name in key.models]
    data = [
        {"id": m.name, "object": "model", "created": 0, "owned_by": m.provider}
        for m in sorted(served, key=lambda m: m.name)
    ]
    return web.json_response(
        {"object": "list", "data": data}, headers=request_id_headers(request[REQUEST_ID])
    )


# Each metered route: its path, its endpoint, its OpenAPI operation.
METERED_ROUTES: tuple[tuple[str, Endpoint, Doc], ...] = (
    ("/v1/chat/completions", endpoints.CHAT, proxy_doc.CHAT),
    ("/v1/completions", endpoints.COMPLETIONS, proxy_doc.COMPLETIONS),
    ("/v1/embeddings", endpoints.EMBEDDINGS, proxy_doc.EMBEDDINGS),
    ("/v1/moderations", endpoints.MODERATIONS, proxy_doc.MODERATIONS),
    ("/v1/messages", endpoints.MESSAGES, proxy_doc.MESSAGES),
    ("/v1/responses", endpoints.RESPONSES, llm_doc.RESPONSES),
    ("/v1/images/generations", endpoints.IMAGE_GENERATIONS, proxy_doc.IMAGE_GENERATIONS),
    ("/v1/images/edits", endpoints.IMAGE_EDITS, proxy_doc.IMAGE_EDITS),
    ("/v1/images/variations", endpoints.IMAGE_VARIATIONS, proxy_doc.IMAGE_VARIATIONS),
    # Azure OpenAI's forms, for `openai.AzureOpenAI` clients: the dated API names the model
    # by its deployment in the path, the v1 API in the body.
    ("/openai/deployments/{deployment}/chat/completions", endpoints.AZURE_CHAT, proxy_doc.azure),
    ("/openai/deployments/{deployment}/completions", endpoints.AZURE_COMPLETIONS, proxy_doc.azure),
    ("/openai/deployments/{deployment}/embeddings", endpoints.AZURE_EMBEDDINGS, proxy_doc.azure),
    ("/openai/responses", endpoints.RESPONSES, proxy_doc.azure),
    ("/openai/v1/chat/completions", endpoints.CHAT, proxy_doc.azure),
    ("/openai/v1/completions", endpoints.COMPLETIONS, proxy_doc.azure),
    ("/openai/v1/embeddings", endpoints.EMBEDDINGS, proxy_doc.azure),
    ("/openai/v1/responses", endpoints.RESPONSES, proxy_doc.azure),
    ("/v1/audio/transcriptions", endpoints.TRANSCRIPTIONS, proxy_doc.TRANSCRIPTIONS),
    ("/v1/audio/translations", endpoints.TRANSLATIONS, proxy_doc.TRANSLATIONS),
    ("/v1/audio/speech", endpoints.SPEECH, proxy_doc.SPEECH),
    # Gemini's own form, for the google-genai SDK by base URL (v1 since its 3.x, v1beta
    # before): the model in the path.
    *(
        (f"/{version}/models/{{model:[^/:]+}}:{method}", endpoint, proxy_doc.gemini)
        for version in ("v1", "v1beta")
        for method, endpoint in (
            ("generateContent", endpoints.GEMINI),
            ("streamGenerateContent", endpoints.GEMINI_STREAM),
        )
    ),
)


def add_routes(app: web.Application) -> None:
    # `_metered` itself, bound to its endpoint: a handler of its own per route would be one
    # more frame to resume at each of a request's three awaits (two Redis replies, the
    # provider's head).
    for path, endpoint, doc in METERED_ROUTES:
        handler = partial(_uploaded if endpoint.upload else _metered, endpoint=endpoint)
        declare(app.router, Route("POST", path, handler, authority.PROXY, PROVIDER_CALL, doc=doc))
    declare(
        app.router,
        Route("GET", "/v1/models", list_models, authority.PROXY, doc=proxy_doc.LIST_MODELS),
    )
