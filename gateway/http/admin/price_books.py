"""GET /admin/v1/prices/books: the price books this gateway holds (billing/pricing/books.py):
every version, in force, scheduled or ended, and every dated assignment to an account or a
plan. A book is changed only as a price change (POST /admin/v1/prices/changes with `books`
and `assign`), reviewed, dated and audited as any other (http/admin/prices.py)."""

from __future__ import annotations

from aiohttp import web

from billing import authority
from gateway.http.appkeys import PRICING
from gateway.http.openapi.paths import prices as doc
from gateway.http.routing import Route, declare
from gateway.http.shared.contracts.price_books import shelf_json


async def list_books(request: web.Request) -> web.Response:
    return web.json_response(shelf_json(request.config_dict[PRICING].books))


def add_routes(admin: web.Application) -> None:
    declare(
        admin.router,
        Route("GET", "/prices/books", list_books, authority.OPERATOR, doc=doc.BOOKS),
    )
