"""An account's runway as the API and the dashboard read it (services/runway.py)."""

from __future__ import annotations

from aiohttp import web

from billing.runway import Runway
from gateway.errors import NotFound
from gateway.http.appkeys import GRANTS, LEDGER, PAYMENTS, STORE, USAGE
from gateway.services.runway import Runways

POSTPAID = "Postpaid: you are billed for what you use, so no credit runs out."


def runways(request: web.Request) -> Runways:
    app = request.config_dict
    payments = app.get(PAYMENTS)
    profiles = payments.profiles if payments is not None else None
    return Runways(app[LEDGER], app[STORE], app[USAGE], app[GRANTS], profiles)


async def runway_of(request: web.Request, account_id: str) -> Runway | None:
    """The account's runway; None for a postpaid account."""
    if await request.config_dict[LEDGER].get_account(account_id) is None:
        raise NotFound("No such account.")
    money = await request.config_dict[STORE].money(account_id)
    return await runways(request).of(account_id, money.available if money is not None else 0)
