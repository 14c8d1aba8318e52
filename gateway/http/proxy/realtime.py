"""OpenAI's Realtime API through Meterway: `GET /v1/realtime?model=...` upgraded to a
WebSocket, and `POST /v1/realtime/client_secrets`, the short-lived secret a browser opens it
with (services/metering/realtime_secrets.py).

Everything that can be refused is refused before the upgrade, as an HTTP error with the
usual body: the key (or secret), the `realtime` scope, the model (served, priced, allowed to
the key and its providers, the one a secret was minted for; a transcription session passes
the same scope, provider pin and binding), the key's live balance, the open sessions'
limits, the provider's socket (its failure scrubbed). The relay (realtime_relay.py) then
holds and settles each response.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

from aiohttp import web

from billing import authority
from billing.pricing import ModelPrice
from gateway.errors import (
    InvalidRequest,
    MeterwayError,
    ModelNotFound,
    PermissionDenied,
    QuotaExceeded,
)
from gateway.http.appkeys import PROXYING, Proxying
from gateway.http.headers import request_id_headers
from gateway.http.middleware import REQUEST_ID
from gateway.http.observability.tracer import trace_prepared
from gateway.http.openapi.paths import llm as llm_doc
from gateway.http.proxy.realtime_relay import Relay
from gateway.http.routing import Route, declare, unaudited
from gateway.http.server import CLIENT_LEFT
from gateway.http.whole import json_whole
from gateway.llm.endpoints import REALTIME
from gateway.llm.reading.calls import booked_price, parse_json
from gateway.llm.reading.realtime_events import REALTIME_CLIENT_EVENTS
from gateway.llm.scrub import operator_scrubber
from gateway.services.auth import hash_key, presented_key
from gateway.services.keys.mint import realtime_secret
from gateway.services.metering import realtime_secrets as secrets
from gateway.services.metering.realtime_meter import SessionMeter
from gateway.stores.records import KeyRecord

# Subprotocols answered to a browser: OpenAI's SDKs offer "realtime" with their key.
PROTOCOLS = ("realtime",)


class SessionSlots:
    """Open sessions per key and per account, in this gateway process."""

    def __init__(self) -> None:
        self.keys: Counter[str] = Counter()
        self.accounts: Counter[str] = Counter()

    @contextmanager
    def taken(self, key: KeyRecord, per_key: int, per_account: int) -> Iterator[None]:
        if self.keys[key.key_id] >= per_key or self.accounts[key.account_id] >= per_account:
            whose = "key" if self.keys[key.key_id] >= per_key else "account"
            raise QuotaExceeded(
                f"Too many open Realtime sessions for this {whose}; close one first.",
                retry_after_s=5,
            )
        self.keys[key.key_id] += 1
        self.accounts[key.account_id] += 1
        try:
            yield
        finally:
            for counts, name in ((self.keys, key.key_id), (self.accounts, key.account_id)):
                counts[name] -= 1
                if not counts[name]:
                    del counts[name]


SLOTS = web.AppKey("realtime_slots", SessionSlots)


async def _key(request: web.Request, p: Proxying) -> tuple[KeyRecord, str]:
    """The key (from `Authorization`, or a client secret offered as a subprotocol) and the
    one model a secret was minted for ("" any)."""
    secret, _ = secrets.offered(request.headers.get("Sec-WebSocket-Protocol", ""))
    if secret is None and presented_key(request).startswith(secrets.PREFIX):
        secret = presented_key(request)  # a server using a minted secret as its key
    if secret is None:
        return await p.keys.resolve(request), ""
    found = secrets.read(secret, p.settings.admin_api_key, time.time())
    return await p.keys.resolve_digest(found.key_digest), found.model


def realtime_price(p: Proxying, model: str, key: KeyRecord, bound: str = "") -> ModelPrice:
    """The Realtime model this key may open, priced, or the error saying why not."""
    if not model:
        raise InvalidRequest("'model' is required in the query string.", param="model")
    _scoped(key)
    price = p.pricing.lookup(model)
    if price is None or price.kind != "realtime" or not REALTIME.serves(price, "openai"):
        raise ModelNotFound(
            f"The model '{model}' is not served on the Realtime route.", param="model"
        )
    _may_use(key, price, model, bound)
    if not price.is_priced():
        raise InvalidRequest(
            f"The model '{price.name}' has no per-token price in the catalogue; Meterway "
            "cannot meter it.",
            param="model",
        )
    return booked_price(p.pricing, price, key.account_id)


def _scoped(key: KeyRecord) -> None:
    if key.scopes and REALTIME.scope not in key.scopes:
        raise PermissionDenied(f"This API key lacks the '{REALTIME.scope}' scope.")


def _may_use(key: KeyRecord, price: ModelPrice, model: str, bound: str) -> None:
    """The checks every model a session uses passes, its own or its transcriber: the one a
    client secret was minted for, the key's models, the key's providers."""
    _binding(bound, price.name)
    if key.models and price.name not in key.models:
        raise PermissionDenied(f"This API key may not use the model '{model}'.", param="model")
    _pinned(key, price.provider, model)


def _binding(bound: str, name: str) -> None:
    if bound and name != bound:
        raise PermissionDenied(f"This client secret opens '{bound}' only.", param="model")


def _pinned(key: KeyRecord, provider: str, model: str) -> None:
    if key.providers and provider not in key.providers:
        raise PermissionDenied(
            f"The model '{model}' is not served by a provider this API key allows."
        )


def transcription_price(p: Proxying, model: str, key: KeyRecord) -> ModelPrice:
    """The transcription model a session names, priced per token, if this key may use it
    (its models and providers; a client secret binds the session's own model, not this)."""
    price = p.pricing.lookup(model)
    if price is None or price.kind != "transcription" or price.provider != "openai":
        raise ModelNotFound(f"The transcription model '{model}' is not served.", param="model")
    _may_use(key, price, model, "")
    if not price.prices("input_audio_mtok"):
        raise InvalidRequest(
            f"The model '{price.name}' has no per-token audio price; Meterway cannot meter "
            "its transcripts in a Realtime session.",
            param="model",
        )
    return booked_price(p.pricing, price, key.account_id)


def _session_of(
    p: Proxying, request: web.Request, key: KeyRecord, bound: str
) -> tuple[ModelPrice | None, dict[str, str]]:
    """The session's model (None: a transcription session, whose model is checked by
    `transcription_price` when it is used) and the provider's query. A transcription
    session passes the same scope, provider pin and secret's binding as any session: a
    secret minted for one Realtime model opens that model's sessions only."""
    if request.query.get("intent") == "transcription":
        _scoped(key)
        _pinned(key, "openai", "transcription")
        _binding(bound, "")  # a secret bound to a model opens no transcription session
        return None, {"intent": "transcription"}
    price = realtime_price(p, request.query.get("model", ""), key, bound)
    return price, {"model": price.upstream_model}


async def realtime(request: web.Request) -> web.StreamResponse:
    p = request.app[PROXYING]
    rid = request[REQUEST_ID]
    key, bound = await _key(request, p)
    price, query = _session_of(p, request, key, bound)
    await p.meter.precheck(rid, key)
    s = p.settings
    slots = request.app[SLOTS]
    with slots.taken(key, s.realtime_sessions_per_key, s.realtime_sessions_per_account):
        provider = "openai" if price is None else price.provider
        scrubber = operator_scrubber(s)
        try:
            upstream = await p.upstream.realtime(
                provider, query, request.headers, s.realtime_max_frame_bytes
            )
        except MeterwayError as exc:  # the provider's URL and what it said, scrubbed
            scrubber.error(exc)
            raise
        client = web.WebSocketResponse(protocols=PROTOCOLS, max_msg_size=s.realtime_max_frame_bytes)
        client.headers.update(request_id_headers(rid))  # each response's debit is `{rid}.{n}`
        request[CLIENT_LEFT] = _client_left  # the relay reads on for the provider's usage
        trace_prepared(request, client)
        try:
            await client.prepare(request)
        except BaseException:
            await upstream.close()
            raise
        session = SessionMeter(p.meter, key, price, rid)
        transcriber = partial(transcription_price, p, key=key)
        limits = (s.realtime_idle_timeout_s, s.stream_drain_timeout_s)
        await Relay(client, upstream, session, *limits, transcriber, scrubber).run()
    return client


def _client_left(request: web.Request, serving: object) -> None:
    """The relay sees its client close and drains the provider itself, bounded by
    STREAM_DRAIN_TIMEOUT_S: nothing to cancel here."""


async def client_secret(request: web.Request) -> web.Response:
    """Mint a secret for a browser: `{"expires_after": {"seconds": N}, "session": {"model":
    ...}}`, both optional. Refused as opening a session would be, before anything is minted."""
    p = request.app[PROXYING]
    key = await p.keys.resolve(request)
    raw = await request.read()
    body = parse_json(raw) if raw.strip() else {}
    session = body.get("session") or {}
    expires = body.get("expires_after") or {}
    if not isinstance(session, dict) or not isinstance(expires, dict):
        raise InvalidRequest("'session' and 'expires_after' must be objects.", param="session")
    ttl = json_whole(
        expires.get("seconds", p.settings.realtime_secret_ttl_s),
        "expires_after.seconds",
        minimum=10,
        maximum=secrets.MAX_TTL_S,
    )
    model = session.get("model")
    name = ""
    if model is not None:
        name = realtime_price(p, str(model), key).name
    realtime_secret(key, name)  # the one mint: the key's right, scope and model
    await p.meter.precheck(request[REQUEST_ID], key, key_only=True)
    expires_at = int(time.time()) + ttl
    value = secrets.mint(
        secrets.ClientSecret(hash_key(presented_key(request)), name, expires_at),
        p.settings.admin_api_key,
    )
    return web.json_response(
        {
            "value": value,
            "expires_at": expires_at,
            "session": {"type": "realtime", "model": name or None},
        }
    )


def add_routes(app: web.Application) -> None:
    app[SLOTS] = SessionSlots()
    declare(
        app.router,
        Route(
            "GET",
            "/v1/realtime",
            realtime,
            authority.PROXY,
            doc=llm_doc.REALTIME,
            messages=REALTIME_CLIENT_EVENTS,
        ),
        Route(
            "POST",
            "/v1/realtime/client_secrets",
            client_secret,
            authority.PROXY,
            unaudited("a session secret of the key's own: its calls are ledger rows"),
            doc=llm_doc.CLIENT_SECRET,
        ),
    )
