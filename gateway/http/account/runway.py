"""GET /v1/account/runway: when the account's credit runs out at its recent rate, or when
its next automatic top-up is due (services/trust/runway.py); a postpaid account is billed for its
use, so no credit runs out and there is no runway."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from billing import authority
from gateway.http.openapi.paths import account as account_doc
from gateway.http.principal import ACCOUNT_READ, require
from gateway.http.routing import Route, declare
from gateway.http.shared.trust.runway import runway_words, runways


async def runway(request: web.Request) -> web.Response:
    who = require(request, ACCOUNT_READ)
    prepaid, found, words = await runway_words(request, who.account_id)
    body: dict[str, Any] = {"object": "runway", "prepaid": prepaid, "words": words}
    body.update(found.json() if found is not None else {})
    budgets = await runways(request).budgets(who.account_id)
    body["budgets"] = [b.json() for b in budgets]
    return web.json_response(body)


def add_account_routes(account: web.Application) -> None:
    declare(
        account.router,
        Route("GET", "/runway", runway, authority.ACCOUNT_READ, doc=account_doc.RUNWAY),
    )
