"""The operator's Price books page: every book version (in force, scheduled, ended) with its
rules, and every dated assignment to an account or a plan, as `GET /admin/v1/prices/books`
shows them. A book changes only as a reviewed price change (docs/guides/price-books.md)."""

from __future__ import annotations

from aiohttp import web

from billing import authority
from gateway.http.appkeys import PRICING
from gateway.http.dashboard.operators.accounts import operator
from gateway.http.dashboard.web import render
from gateway.http.openapi.paths import dashboard as dashboard_doc
from gateway.http.routing import Route, declare
from gateway.http.shared.contracts.price_books import shelf_json


async def books_page(request: web.Request) -> web.Response:
    operator(request)
    shelf = shelf_json(request.config_dict[PRICING].books)
    return render(
        request, "ops_books.html", title="Price books", nav="books",
        books=shelf["data"], assignments=shelf["assignments"],
    )  # fmt: skip


def add_routes(dash: web.Application) -> None:
    declare(
        dash.router,
        Route(
            "GET",
            "/operators/books",
            books_page,
            authority.OPERATOR_PAGE,
            doc=dashboard_doc.page("Price books: customers' prices over the list card"),
        ),
    )
