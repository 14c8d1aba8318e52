"""GET /admin/v1/reconciliation/providers: the differences between the ledger and the
providers' own usage and cost reports (docs/guides/reconciliation.md), of one UTC day
(`day`) or every day kept, with the runs that found them; `format=csv` is the export."""

from __future__ import annotations

from aiohttp import web

from billing import authority
from gateway.errors import InvalidRequest
from gateway.http.openapi.paths import account as account_doc
from gateway.http.routing import Route, declare
from gateway.http.shared.proof.reconciliation import as_csv, chosen_day, differences, runs


async def provider_differences(request: web.Request) -> web.Response:
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv"):
        raise InvalidRequest("'format' must be one of json, csv.", param="format")
    rows = await differences(request, chosen_day(request))
    if fmt == "csv":
        return as_csv(rows)
    return web.json_response({"differences": rows, "runs": await runs(request)})


def add_routes(admin: web.Application) -> None:
    declare(
        admin.router,
        Route(
            "GET",
            "/reconciliation/providers",
            provider_differences,
            authority.OPERATOR,
            doc=account_doc.PROVIDER_DIFFERENCES,
        ),
    )
