# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""Reading a proxied call: the key first, then the body, then its tokens, each only once
the one before passed, so nothing large is read or tokenized for a key that is refused."""

from __future__ import annotations

import asyncio

from aiohttp import web

from billing.metering.token_cache import NewTextOverBudget
from billing.money.end_users import HEADER as END_USER_HEADER
from billing.values import replace
from gateway.config.settings import Settings
from gateway.errors import MeterwayError, RequestTimeout
from gateway.http.appkeys import Proxying
from gateway.http.middleware import REQUEST_ID
from gateway.http.proxy.own_keys import with_own_keys
from gateway.http.proxy.uploads import form_body, read_upload
from gateway.llm.endpoint import Endpoint
from gateway.llm.reading.betas import read_betas
from gateway.llm.reading.calls import Call, parse_json, read_call
from gateway.stores.records import KeyRecord
from gateway.telemetry import metrics

# Bodies larger than this are tokenized in a worker thread (tiktoken releases the GIL), so a
# large prompt never stalls the event loop other clients share.
INLINE_COUNT_BYTES = 32 * 1024
# A larger body is still counted on the loop when at most INLINE_COUNT_BYTES of its text has
# not been counted for the account before (a long conversation's earlier turns), as a probe
# that tokenizes nothing finds first. A kept text costs two lookups (the probe's, the
# count's) and two walks past it, so every text is charged 64 bytes of that allowance
# (token_cache.TEXT_WALK_BYTES), which bounds what passes costs the loop. A kept text's
# lookup still hashes it, hence bodies up to this size only.
INLINE_KEPT_BYTES = 1024 * 1024


async def _body(request: web.Request, settings: Settings) -> bytes:
    """The body within CLIENT_BODY_TIMEOUT_S: a client trickling bytes cannot hold a slot.
    A body already whole (a small one arrives with its head) cannot wait: no timer for it."""
    if request.content.is_eof():
        return await request.read()
    try:
        async with asyncio.timeout(settings.client_body_timeout_s):
            return await request.read()
    except TimeoutError as exc:
        raise RequestTimeout("The request body did not arrive in time.") from exc


async def key_and_call(
    request: web.Request, p: Proxying, endpoint: Endpoint
) -> tuple[KeyRecord, Call]:
    """Key first (live, able to pay for anything), then the body, then tokens: nothing
    large is read for a key that would be refused anyway (a small body: `_read_small`). A
    large body whose new text is small (its other texts counted for the account before, as
    a probe finds with no tokenizing) is counted here; any other is checked at its floor
    (what any reading of it costs at least, from byte lengths) before any of it is
    tokenized, in a worker thread (tiktoken releases the GIL), off the event loop. The floor
    is walked in a worker thread too: it tokenizes nothing, but a 4 MiB body of ~140,000
    empty messages took 0.2-0.75 s to walk, which on the loop stalled every other client
    (in a thread the loop gets the GIL back every switch interval, 5 ms)."""
    meter, rid, counter = p.meter, request[REQUEST_ID], p.counter
    key = await p.keys.resolve(request)
    size = request.content_length
    if size is not None and size <= INLINE_COUNT_BYTES:
        return key, await _read_small(request, p, endpoint, key)
    plan = await meter.precheck(rid, key)
    betas = read_betas(request.headers, p.settings.anthropic_unknown_betas)
    end_user = request.headers.get(END_USER_HEADER)
    raw = await _body(request, p.settings)
    body = parse_json(raw)
    if endpoint.path_model:
        body["model"] = request.match_info[endpoint.path_model]
    args = (endpoint, body, key, p.pricing)
    if len(raw) <= INLINE_COUNT_BYTES:
        _counted("loop")
        return key, read_call(*args, counter, betas, end_user)
    if len(raw) <= INLINE_KEPT_BYTES:
        try:
            read_call(*args, counter.probe(key.account_id, INLINE_COUNT_BYTES), betas)
            kept = counter.for_account(key.account_id, INLINE_COUNT_BYTES)
            call = read_call(*args, kept, betas, end_user)
        except NewTextOverBudget:
            pass  # more new text than the loop may tokenize: the probe found it untokenized
        else:
            _counted("loop")
            return key, call
    floor = await asyncio.to_thread(read_call, *args, counter.floor(), betas, end_user)
    floor, _ = with_own_keys(p, key.account_id, floor)  # checked at the price it will pay
    await meter.check_floor(rid, key, floor, plan)
    _counted("thread")
    return key, await asyncio.to_thread(read_call, *args, counter, betas, end_user)


async def _read_small(
    request: web.Request, p: Proxying, endpoint: Endpoint, key: KeyRecord
) -> Call:
    """A small body skips the pre-check: one Redis round trip less on the common path. The
    reservation that follows runs every check the pre-check would, and reading and counting
    a few KB costs microseconds. Only a request that fails here is pre-checked, so a refused
    key (revoked, expired) is still told so before anything about its body; its windows and
    balance are not: a request that can never succeed (a model the key may not use, a bad
    body) says so rather than 429 or 402, which would only have it retried."""
    try:
        betas = read_betas(request.headers, p.settings.anthropic_unknown_betas)
        body = parse_json(await _body(request, p.settings))
        if endpoint.path_model:
            body["model"] = request.match_info[endpoint.path_model]
        end_user = request.headers.get(END_USER_HEADER)
        call = read_call(endpoint, body, key, p.pricing, p.counter, betas, end_user)
    except MeterwayError as refused:
        await p.meter.precheck(request[REQUEST_ID], key, key_only=True)
        raise refused  # not a bare raise after an await: compiled, that one crashed
    _counted("loop")
    return call


def _counted(where: str) -> None:
    m = metrics()
    m.tally.count(m.prompts_counted, where)


async def key_and_upload(
    request: web.Request, p: Proxying, endpoint: Endpoint
) -> tuple[KeyRecord, Call]:
    """A multipart upload: the key checked in full (live, able to pay) before a byte of the
    body is read, then the body spooled (http/proxy/uploads.py) and read as its form fields."""
    key = await p.keys.resolve(request)
    await p.meter.precheck(request[REQUEST_ID], key)
    settings = p.settings
    upload = await read_upload(request, settings.max_upload_bytes, settings.client_body_timeout_s)
    try:
        measure = endpoint.kind == "transcription"
        body = await asyncio.to_thread(form_body, upload, True) if measure else form_body(upload)
        call = read_call(endpoint, body, key, p.pricing, p.counter)
    except BaseException:
        upload.close()
        raise
    return key, replace(call, upload=upload)
