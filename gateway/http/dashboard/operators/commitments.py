"""The operator's Commitments page: every account's open period, its allowance with what
it drew and holds now (the account's Redis fields), and its terms, as
`GET /admin/v1/accounts/{id}/commitment` shows each (docs/guides/commitments.md)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from billing import authority
from billing.contracts.commitments import TERM_FIELDS
from gateway.http.appkeys import STORE, STORES
from gateway.http.dashboard.operators.accounts import operator
from gateway.http.dashboard.web import render
from gateway.http.openapi.paths import dashboard as dashboard_doc
from gateway.http.routing import Route, declare
from gateway.http.shared.contracts.commitments import period_json

SHOWN = 200  # open periods on the page, the soonest to close first


async def commitments_page(request: web.Request) -> web.Response:
    operator(request)
    app = request.config_dict
    hot = app[STORE].commitments
    rows: list[dict[str, Any]] = []
    for row in (await app[STORES].commitments().open_periods())[:SHOWN]:
        period = {
            "starts_at": row["period_starts_at"],
            "ends_at": row["period_ends_at"],
            "committed_micros": row["committed_micros"],
            "rolled_in": row["rolled_in"],
        }
        shown = period_json(period, await hot.fields(row["account_id"]))
        terms = {name: row[name] for name in TERM_FIELDS}
        rows.append({"account_id": row["account_id"], **terms, **shown})
    return render(
        request, "ops_commitments.html", title="Commitments", nav="commitments", rows=rows,
        shown=SHOWN,
    )  # fmt: skip


def add_routes(dash: web.Application) -> None:
    declare(
        dash.router,
        Route(
            "GET",
            "/operators/commitments",
            commitments_page,
            authority.OPERATOR_PAGE,
            doc=dashboard_doc.page("Commitments: each account's period, drawn and left"),
        ),
    )
