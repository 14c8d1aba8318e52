"""The OpenAPI 3.1 document of every route, served at /openapi.json: each route's operation
read off its record (gateway/http/routing.py), so a route is documented where it is declared
and nowhere else. The operations themselves are written with the schemas of this package,
one module per surface (account.py, billing.py, ...).

Names a request must take from this gateway's configuration (its plans, providers, meters)
are schemas of their own, `PlanName` and the like, that the app's document makes enums of.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from billing import authority
from billing.money.payments import MICROS_PER_CENT, for_sale
from gateway.http.appkeys import METER_BOOK, PLANS, SETTINGS
from gateway.http.openapi.components import SCHEMAS
from gateway.http.openapi.paths import operator as ops_doc
from gateway.http.openapi.paths.metering import SERVICE_KEY_SCHEME
from gateway.http.openapi.paths.scim import SCIM_TOKEN_SCHEME
from gateway.http.routing import Route, declare, declared, operation

SECURITY_SCHEMES = {
    "apiKey": {"type": "http", "scheme": "bearer", "description": "an API key, mw-..."},
    "adminKey": {"type": "http", "scheme": "bearer", "description": "ADMIN_API_KEY"},
    "userToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "serviceKey": SERVICE_KEY_SCHEME,
    "scimToken": SCIM_TOKEN_SCHEME,
    "dashboardSession": {"type": "apiKey", "in": "cookie", "name": "mw_session"},
}


class Published:
    """The app's document, built on its first read: most gateways (every test's) are never
    asked for it, and building it is a tenth of a gateway's start."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._document: dict[str, Any] | None = None

    def document(self) -> dict[str, Any]:
        if self._document is None:
            self._document = build_document(self._app, catalogue_of(self._app))
        return self._document


DOCUMENT = web.AppKey("openapi", Published)


@dataclass(frozen=True, slots=True)
class Catalogue:
    """The names this gateway is configured with that requests carry."""

    plans: tuple[str, ...]
    plans_for_sale: tuple[str, ...]
    providers: tuple[str, ...]
    meters: tuple[str, ...]
    topup_micros: tuple[int, int]  # the least and the most a top-up may be


def catalogue_of(app: web.Application) -> Catalogue:
    plans, payments = app[PLANS], app[SETTINGS].payments
    return Catalogue(
        plans=tuple(plans.plans),
        plans_for_sale=tuple(for_sale(plans)),
        providers=tuple(app[SETTINGS].providers),
        meters=tuple(app[METER_BOOK].names()),
        topup_micros=(payments.topup_min_micros, payments.topup_max_micros),
    )


def name_schemas(c: Catalogue | None) -> dict[str, Any]:
    """Enums of the app's names; without a catalogue (the reference pages), any string."""

    def one_of(names: Callable[[Catalogue], tuple[str, ...]], what: str) -> dict[str, Any]:
        out = {"type": "string", "description": what}
        return out if c is None else out | {"enum": list(names(c))}

    return {
        "PlanName": one_of(lambda k: k.plans, "a plan this gateway offers"),
        "PlanForSale": one_of(lambda k: k.plans_for_sale, "a plan a user may choose themselves"),
        "Provider": one_of(lambda k: k.providers, "a provider this gateway is configured with"),
        "MeterName": one_of(lambda k: k.meters, "a meter of this gateway's meter book"),
        "TopupAmount": _topup(None if c is None else c.topup_micros),
    }


def _topup(bounds: tuple[int, int] | None) -> dict[str, Any]:
    out = {
        "type": "integer",
        "multipleOf": MICROS_PER_CENT,
        "description": "whole cents, in micros",
    }
    if bounds is None:
        return out
    return out | {"minimum": bounds[0], "maximum": bounds[1]}


def build_document(app: web.Application, catalogue: Catalogue | None = None) -> dict[str, Any]:
    """Every route of `app` but a catch-all, by its whole path; the components, with the
    catalogue's names as enums when one is given."""
    paths: dict[str, dict[str, Any]] = {}
    for path, route in declared(app):
        if route.doc is not None:
            paths.setdefault(path, {})[route.method.lower()] = operation(path, route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Meterway",
            "version": "1",
            "description": "A metering gateway for LLM traffic. Money is in integer USD micros."
            " Integers are sent as JSON integers (5, not 5.0), though JSON Schema counts both.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": SCHEMAS | name_schemas(catalogue),
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(document_of(request.app))


def publish(app: web.Application) -> None:
    """Publish the document of every route declared (create_app's last step)."""
    app[DOCUMENT] = Published(app)


def document_of(app: web.Application) -> dict[str, Any]:
    return app[DOCUMENT].document()


def add_routes(app: web.Application) -> None:
    declare(
        app.router,
        Route("GET", "/openapi.json", openapi_json, authority.PUBLIC, doc=ops_doc.OPENAPI_JSON),
    )
