"""An account's runway as the API and the dashboard read it (services/runway.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from billing.runway import Runway
from gateway.errors import NotFound
from gateway.http.appkeys import GRANTS, LEDGER, PAYMENTS, STORE, USAGE
from gateway.services.runway import account_runway

POSTPAID = "Postpaid: you are billed for what you use, so no credit runs out."


async def runway_of(request: web.Request, account_id: str) -> Runway | None:
    """The account's runway; None for a postpaid account."""
    app = request.config_dict
    row = await app[LEDGER].get_account(account_id)
    if row is None:
        raise NotFound("No such account.")
    if row["mode"] != "prepaid":
        return None
    store = app[STORE]
    money = await store.money(account_id)
    available = money.available if money is not None else 0
    now = datetime.fromtimestamp(await store.now_ms() / 1000, UTC)
    payments = app.get(PAYMENTS)
    profile = await payments.profiles.profile(account_id) if payments is not None else None
    return await account_runway(app[USAGE], app[GRANTS], account_id, available, now, profile)
