"""An account's runway as the API and the dashboard read it (services/trust/runway.py)."""

from __future__ import annotations

from aiohttp import web

from billing.trust.runway import Runway
from gateway.errors import NotFound
from gateway.http.appkeys import GRANTS, LEDGER, PAYMENTS, STORE, STORES, USAGE
from gateway.services.trust.runway import Runways

POSTPAID = "Postpaid: you are billed for what you use, so no credit runs out."
UNKNOWN = "The balance is unknown until the operator rebuilds Redis, so there is no forecast."


def runways(request: web.Request) -> Runways:
    app = request.config_dict
    payments = app.get(PAYMENTS)
    profiles = payments.profiles if payments is not None else None
    commitments = (app[STORES].commitments(), app[STORE].commitments)
    return Runways(app[LEDGER], app[STORE], app[USAGE], app[GRANTS], profiles, commitments)


async def runway_of(request: web.Request, account_id: str, available: int | None) -> Runway | None:
    """A prepaid account's runway from the available balance its caller read; None while
    Redis has lost that balance (nothing to forecast from until `meterway rebuild`)."""
    if available is None:
        return None
    return await runways(request).prepaid(account_id, available)


async def runway_words(request: web.Request, account_id: str) -> tuple[bool, Runway | None, str]:
    """(prepaid, its runway, the words to show) for the API: the account read once."""
    row = await request.config_dict[LEDGER].get_account(account_id)
    if row is None:
        raise NotFound("No such account.")
    if row["mode"] != "prepaid":
        return False, None, POSTPAID
    money = await request.config_dict[STORE].money(account_id)
    found = await runway_of(request, account_id, None if money is None else money.available)
    return True, found, UNKNOWN if found is None else found.words
