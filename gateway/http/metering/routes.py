"""The metering API under /v1/metering: other services charge meters against the same credits.

Its own sub-application with its own auth (a service key in X-API-Key plus X-Service-Name),
so neither the proxy nor the admin API pays for it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from billing import authority
from billing.money.answers import rfc3339
from gateway.errors import InvalidApiKey, NotFound
from gateway.http.appkeys import METERING, SERVICES, STORE
from gateway.http.metering import bodies
from gateway.http.observability.tracer import traced_events
from gateway.http.openapi.paths import metering as metering_doc
from gateway.http.routing import METERED, Route, declare
from gateway.llm.reading.calls import parse_json
from gateway.services.money.meter.metered import Authorization, Settled
from gateway.services.money.meter.metered_events import report
from gateway.stores.meter_records import METERED_ID, ServiceRecord

SERVICE = web.RequestKey("service", ServiceRecord)


@web.middleware
async def service_auth(request: web.Request, handler: Any) -> web.StreamResponse:
    key = request.headers.get("X-API-Key", "").strip()
    name = request.headers.get("X-Service-Name", "").strip()
    record = await request.config_dict[SERVICES].resolve(key, name) if key and name else None
    if record is None:
        raise InvalidApiKey(
            "The metering API requires a service key (X-API-Key) and its X-Service-Name."
        )
    request[SERVICE] = record
    response: web.StreamResponse = await handler(request)
    return response


def _authorization(a: Authorization) -> dict[str, Any]:
    return {
        "id": a.id,
        "object": "metering.authorization",
        "account_id": a.account_id,
        "meter": a.meter,
        "max_quantity": a.max_quantity,
        "held_micros": a.held_micros,
        "expires_at": rfc3339(a.expires_at_ms) if a.expires_at_ms else None,
        "idempotent_replay": a.replay,
    }


def _settled(s: Settled) -> dict[str, Any]:
    return {
        "id": s.id,
        "status": s.status,
        "quantity": s.quantity,
        "cost_micros": s.cost_micros,
        "idempotent_replay": s.replay,
    }


def _auth_id(request: web.Request) -> str:
    rid = request.match_info["auth_id"]
    if not METERED_ID.match(rid) or not rid.startswith("mtr_"):
        raise NotFound("No open authorization with this id.")
    return rid


async def authorize(request: web.Request) -> web.Response:
    body = parse_json(await request.read())
    metering, service = request.config_dict[METERING], request[SERVICE]
    meter = metering.meter_for(service, str(bodies.text(body, "meter")))
    max_quantity = int(bodies.quantity(body, "max_quantity") or 0)
    idem = str(bodies.text(body, "idempotency_key"))
    ttl_s = bodies.ttl(body)
    account_id, api_key = bodies.target(body)
    metadata = bodies.metadata(body)
    target = await metering.target(account_id, api_key)
    auth = await metering.authorize(
        service, target, meter, max_quantity, idem, ttl_s, metadata=metadata
    )
    return web.json_response(_authorization(auth), status=200 if auth.replay else 201)


async def extend(request: web.Request) -> web.Response:
    body = parse_json(await request.read())
    max_quantity = bodies.quantity(body, "max_quantity", required=False)
    metering = request.config_dict[METERING]
    auth = await metering.extend(
        request[SERVICE], _auth_id(request), bodies.ttl(body, required=True), max_quantity
    )
    return web.json_response(_authorization(auth))


async def settle(request: web.Request) -> web.Response:
    body = parse_json(await request.read())
    quantity = int(bodies.quantity(body, "quantity") or 0)
    bodies.text(body, "idempotency_key")
    done = await request.config_dict[METERING].settle(request[SERVICE], _auth_id(request), quantity)
    return web.json_response(_settled(done))


async def release(request: web.Request) -> web.Response:
    done = await request.config_dict[METERING].release(request[SERVICE], _auth_id(request))
    return web.json_response(_settled(done))


async def events(request: web.Request) -> web.Response:
    body = parse_json(await request.read())
    now_ms = await request.config_dict[STORE].now_ms()
    batch = bodies.events(body, now_ms)
    results = await report(request.config_dict[METERING], request[SERVICE], batch)
    traced_events(request, batch, results)
    counts = {
        s: sum(1 for r in results if r.status == s) for s in ("debited", "duplicate", "refused")
    }
    return web.json_response({"data": [r.to_json() for r in results], **counts})


def add_routes(app: web.Application) -> None:
    metering = web.Application(middlewares=[service_auth])
    r = metering.router
    declare(
        r,
        Route(
            "POST",
            "/authorizations",
            authorize,
            authority.METERING,
            METERED,
            doc=metering_doc.AUTHORIZE,
        ),
        Route(
            "POST",
            "/authorizations/{auth_id}/extend",
            extend,
            authority.METERING,
            METERED,
            doc=metering_doc.EXTEND,
        ),
        Route(
            "POST",
            "/authorizations/{auth_id}/settle",
            settle,
            authority.METERING,
            METERED,
            doc=metering_doc.SETTLE,
        ),
        Route(
            "POST",
            "/authorizations/{auth_id}/release",
            release,
            authority.METERING,
            METERED,
            doc=metering_doc.RELEASE,
        ),
        Route("POST", "/events", events, authority.METERING, METERED, doc=metering_doc.EVENTS),
    )
    app.add_subapp("/v1/metering/", metering)
