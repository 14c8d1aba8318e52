"""The /v1/account/billing sub-app: a caller's own billing, for an API key scoped `billing` or
a signed-in user whose token carries billing:read / billing:setup.

Handlers are thin: the use cases live in services/money/payment/payments.py and the provider behind
them
is whichever one is configured.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from billing import authority
from billing.money.payments import PaymentRuleError, for_sale
from gateway.errors import InvalidRequest, NotFound
from gateway.http import audited
from gateway.http.appkeys import PAYMENTS, PLANS, RECEIPT_HEADERS, SIGNING_KEYS
from gateway.http.openapi.paths import billing as billing_doc
from gateway.http.principal import (
    BILLING_READ,
    BILLING_SETUP,
    principal_middleware,
    require,
)
from gateway.http.return_to import absolute, return_url
from gateway.http.routing import CHECKOUT, PROVIDER_PAGE, Route, audits, declare
from gateway.http.shared.payment_answers import not_set_up, provider_error
from gateway.llm.reading.calls import parse_json
from gateway.services.money.payment.port import NotConfigured, ProviderUnavailable

PREFIX = "/v1/account/billing"
NO_SIGNING_KEY = "This gateway signs no receipts: its operator has set no LEDGER_SIGNING_KEY."


@web.middleware
async def payment_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Rule and provider failures enter here and leave as the one error tree's classes."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except PaymentRuleError as exc:
        raise InvalidRequest(str(exc), param=exc.param) from exc
    except NotConfigured as exc:
        raise not_set_up() from exc
    except ProviderUnavailable as exc:
        raise provider_error(exc) from exc


def _account(request: web.Request, scope: str = BILLING_SETUP) -> str:
    """The caller's account; reading needs billing:read, anything else billing:setup (an API
    key's `billing` scope grants both)."""
    return require(request, scope).account_id


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    body = parse_json(raw) if raw.strip() else {}
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.")
    return body


def _back(request: web.Request, body: dict[str, Any]) -> str:
    return return_url(request, body.get("return_url"))


async def overview(request: web.Request) -> web.Response:
    payments, who = request.config_dict[PAYMENTS], require(request, BILLING_READ)
    return web.json_response(await payments.overview(who.account_id, who.actor()))


async def payments(request: web.Request) -> web.Response:
    history = await request.config_dict[PAYMENTS].history(_account(request, BILLING_READ))
    return web.json_response({"object": "list", "data": history})


async def invoices(request: web.Request) -> web.Response:
    found = await request.config_dict[PAYMENTS].invoices(_account(request, BILLING_READ))
    return web.json_response({"object": "list", "data": found})


async def cancel(request: web.Request) -> web.Response:
    back, account = return_url(request, None), _account(request)
    result = await request.config_dict[PAYMENTS].cancel(account, back)
    await audited.record(
        request, "payment.subscription_cancel", "account", account, account, None, result
    )
    return web.json_response(result)


async def setup(request: web.Request) -> web.Response:
    account, body = _account(request), await _body(request)
    page = await request.config_dict[PAYMENTS].setup(account, _back(request, body))
    await audited.record(
        request, "payment.setup", "account", account, account, None, {"setup_id": page.id}
    )
    return web.json_response({"url": absolute(request, page.url), "id": page.id})


async def topups(request: web.Request) -> web.Response:
    account, body = _account(request), await _body(request)
    back = _back(request, body)
    page = await request.config_dict[PAYMENTS].topup(account, body.get("amount_micros"), back)
    return web.json_response({"url": absolute(request, page.url), "id": page.id}, status=201)


async def subscription(request: web.Request) -> web.Response:
    account, body = _account(request), await _body(request)
    plan = body.get("plan")
    if not isinstance(plan, str):
        names = ", ".join(for_sale(request.config_dict[PLANS]))
        raise InvalidRequest(f"'plan' is required: the name of a plan ({names}).", param="plan")
    back = _back(request, body)
    result = await request.config_dict[PAYMENTS].change_plan(account, plan, back)
    await audited.record(
        request,
        "payment.subscription",
        "account",
        account,
        account,
        None,
        {"plan": plan, "status": result.get("status")},
    )
    if "url" in result:
        result["url"] = absolute(request, result["url"])
    return web.json_response(result)


async def portal(request: web.Request) -> web.Response:
    account, body = _account(request), await _body(request)
    page = await request.config_dict[PAYMENTS].portal(account, _back(request, body))
    return web.json_response({"url": absolute(request, page.url)})


async def auto_topup(request: web.Request) -> web.Response:
    raw = await request.read()
    body = None if raw.strip() == b"null" else parse_json(raw)  # null turns it off
    account = _account(request)
    setting = await request.config_dict[PAYMENTS].set_auto_topup(account, body)
    await audited.record(
        request, "payment.auto_topup", "account", account, account, None, {"auto_topup": setting}
    )
    return web.json_response({"auto_topup": setting})


async def receipt_header(request: web.Request) -> web.Response:
    """Each call's signed receipt on its own answer (services/proof/receipt_header.py): in this
    process at once, in every other within RECEIPT_HEADER_REFRESH_S."""
    account, body = _account(request), await _body(request)
    enabled = body.get("enabled")
    if not isinstance(enabled, bool):
        raise InvalidRequest("'enabled' must be true or false.", param="enabled")
    if enabled and not request.config_dict[SIGNING_KEYS].signs:
        raise InvalidRequest(NO_SIGNING_KEY, param="enabled")
    if not await request.config_dict[RECEIPT_HEADERS].set(account, enabled):
        raise NotFound("No such account.")
    after = {"receipt_header": enabled}
    await audited.record(
        request, "payment.receipt_header", "account", account, account, None, after
    )
    return web.json_response(after)


def add_routes(app: web.Application) -> None:
    """Register before any /v1/account sub-app: the longer prefix must be matched first."""
    billing = web.Application(middlewares=[principal_middleware, payment_errors])
    r = billing.router
    declare(
        r,
        Route("GET", "", overview, authority.BILLING_READ, doc=billing_doc.OVERVIEW),
        Route("GET", "/payments", payments, authority.BILLING_READ, doc=billing_doc.PAYMENTS),
        Route("GET", "/invoices", invoices, authority.BILLING_READ, doc=billing_doc.INVOICES),
        Route(
            "POST",
            "/subscription/cancel",
            cancel,
            authority.BILLING_SETUP,
            audits("payment.subscription_cancel"),
            doc=billing_doc.CANCEL,
        ),
        Route(
            "POST",
            "/setup",
            setup,
            authority.BILLING_SETUP,
            audits("payment.setup"),
            doc=billing_doc.SETUP,
        ),
        Route("POST", "/topups", topups, authority.BILLING_SETUP, CHECKOUT, doc=billing_doc.TOPUPS),
        Route(
            "POST",
            "/subscription",
            subscription,
            authority.BILLING_SETUP,
            audits("payment.subscription"),
            doc=billing_doc.SUBSCRIPTION,
        ),
        Route(
            "POST",
            "/portal",
            portal,
            authority.BILLING_SETUP,
            PROVIDER_PAGE,
            doc=billing_doc.PORTAL,
        ),
        Route(
            "PUT",
            "/auto-topup",
            auto_topup,
            authority.BILLING_SETUP,
            audits("payment.auto_topup"),
            doc=billing_doc.AUTO_TOPUP,
        ),
        Route(
            "PUT",
            "/receipt-header",
            receipt_header,
            authority.BILLING_SETUP,
            audits("payment.receipt_header"),
            doc=billing_doc.RECEIPT_HEADER,
        ),
    )
    app.add_subapp(PREFIX, billing)
