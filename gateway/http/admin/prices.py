"""GET /admin/v1/prices: the rate cards this gateway bills by now, model by model and tier
by tier, with the catalogue it loaded; `meterway prices diff` compares them with an install."""

from __future__ import annotations

from aiohttp import web

from billing import authority
from gateway.http.appkeys import PRICING
from gateway.http.openapi import account as account_doc
from gateway.http.routing import Route, declare


async def current_prices(request: web.Request) -> web.Response:
    table = request.config_dict[PRICING]
    body = {"catalogue": table.catalogue_version, "models": table.current()}
    return web.json_response(body)


def add_routes(admin: web.Application) -> None:
    declare(
        admin.router,
        Route("GET", "/prices", current_prices, authority.OPERATOR, doc=account_doc.CURRENT_PRICES),
    )
