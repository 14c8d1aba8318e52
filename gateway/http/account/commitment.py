"""GET /v1/account/commitment: the account's own contract as its operator set it, the open
period's allowance with what it drew and holds now, and its past periods: what the
operator's GET answers, for the account alone (it never shows a provider's cost)."""

from __future__ import annotations

from aiohttp import web

from billing import authority
from gateway.http.openapi.paths import commitments as doc
from gateway.http.principal import ACCOUNT_READ, require
from gateway.http.routing import Route, declare
from gateway.http.shared.contracts.commitments import shown


async def commitment(request: web.Request) -> web.Response:
    who = require(request, ACCOUNT_READ)
    return web.json_response(await shown(request, who.account_id))


def add_account_routes(account: web.Application) -> None:
    declare(
        account.router,
        Route("GET", "/commitment", commitment, authority.ACCOUNT_READ, doc=doc.OWN_COMMITMENT),
    )
