"""The /webhooks sub-app: provider events in, applied once, signature first.

A forged or stale event gets 400 before anything is read from it. An event that cannot be
applied now (the provider did not answer the re-fetch) gets 502, so the provider retries.
"""

from __future__ import annotations

from aiohttp import web

from billing import authority
from gateway.errors import InvalidRequest, NotFound, PaymentProviderError
from gateway.http.appkeys import PAYMENTS
from gateway.http.openapi.paths import billing as billing_doc
from gateway.http.routing import Route, declare, unaudited
from gateway.services.money.payment.events import apply_event
from gateway.services.money.payment.port import ProviderUnavailable, SignatureInvalid


async def receive(request: web.Request) -> web.Response:
    payments = request.config_dict[PAYMENTS]
    if request.match_info["provider"] != payments.provider.name:
        raise NotFound("This gateway does not take events from that provider.")
    payload = await request.read()
    try:
        event = payments.provider.verify(payload, request.headers)
    except SignatureInvalid as exc:
        raise InvalidRequest(f"Webhook signature rejected: {exc}.") from exc
    try:
        outcome = await apply_event(payments, event)
    except ProviderUnavailable as exc:
        raise PaymentProviderError("Could not re-fetch the event's object; retry.") from exc
    return web.json_response({"received": True, "id": event.id, "result": outcome})


def add_routes(app: web.Application) -> None:
    hooks = web.Application()
    declare(
        hooks.router,
        Route(
            "POST",
            "/{provider}",
            receive,
            authority.PUBLIC,
            unaudited("the provider's event: its money is a ledger row"),
            doc=billing_doc.RECEIVE,
        ),
    )
    app.add_subapp("/webhooks", hooks)
