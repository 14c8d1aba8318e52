"""GET /v1/account/requests/{request_id}/receipt: a settled call's signed receipt
(services/proof/call_receipts.py), for the account whose request it is and within the caller's
reach, as the request's cost page is."""

from __future__ import annotations

import time

from aiohttp import web

from billing import authority
from gateway.errors import NotFound
from gateway.http.appkeys import SIGNING_KEYS, STORES
from gateway.http.openapi.paths import account as account_doc
from gateway.http.principal import ACCOUNT_READ, require
from gateway.http.routing import Route, declare
from gateway.http.shared.overview import request_cost_within
from gateway.services.proof.call_receipts import call_receipt

NO_KEY = "This gateway signs no receipts: its operator has set no LEDGER_SIGNING_KEY."
NO_DEBIT = "This request has no debit to give a receipt for."


async def receipt(request: web.Request) -> web.Response:
    who = require(request, ACCOUNT_READ)
    cost = await request_cost_within(request, who, request.match_info["request_id"])
    if cost.debit is None:
        raise NotFound(NO_DEBIT)
    keys = request.config_dict[SIGNING_KEYS]
    port = request.config_dict[STORES].ledger_proof()
    signed = await call_receipt(port, keys, cost.debit, int(time.time()))
    if signed is None:
        raise NotFound(NO_KEY)
    body = {"object": "receipt", "request_id": cost.debit["request_id"], "receipt": signed}
    return web.json_response(body)


def add_account_routes(account: web.Application) -> None:
    declare(
        account.router,
        Route(
            "GET",
            "/requests/{request_id}/receipt",
            receipt,
            authority.LEDGER_READ,
            doc=account_doc.RECEIPT,
        ),
    )
