"""An account's runway as the API and the dashboard read it (services/runway.py)."""

from __future__ import annotations

from aiohttp import web

from billing.runway import Runway
from gateway.errors import NotFound
from gateway.http.appkeys import GRANTS, LEDGER, PAYMENTS, STORE, USAGE
from gateway.services.runway import Runways

POSTPAID = "Postpaid: you are billed for what you use, so no credit runs out."
UNKNOWN = "The balance is unknown until the operator rebuilds Redis, so there is no forecast."


def runways(request: web.Request) -> Runways:
    app = request.config_dict
    payments = app.get(PAYMENTS)
    profiles = payments.profiles if payments is not None else None
    return Runways(app[LEDGER], app[STORE], app[USAGE], app[GRANTS], profiles)


async def runway_of(request: web.Request, account_id: str) -> Runway | None:
    """The account's runway; None for a postpaid account, and while Redis has lost its
    balance (nothing to forecast from until `meterway rebuild`)."""
    money = await request.config_dict[STORE].money(account_id)
    if money is None:
        return None
    return await runways(request).of(account_id, money.available)


async def runway_words(request: web.Request, account_id: str) -> tuple[bool, Runway | None, str]:
    """(prepaid, its runway, the words to show) for the API."""
    row = await request.config_dict[LEDGER].get_account(account_id)
    if row is None:
        raise NotFound("No such account.")
    prepaid = row["mode"] == "prepaid"
    found = await runway_of(request, account_id) if prepaid else None
    words = found.words if found is not None else UNKNOWN if prepaid else POSTPAID
    return prepaid, found, words
