"""The local provider's hosted pages, under /billing/local: plain HTML, Pay / Fail / Cancel.

Like a hosted provider's pages they are reached by an unguessable id, not by an API key.
Every completed page yields provider events that go through services/money/payment/events.py,
the same path a verified Stripe webhook takes.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from aiohttp import web

from billing import authority
from billing.money.display import usd
from gateway.config.return_urls import with_params
from gateway.errors import InvalidRequest, NotFound
from gateway.http.appkeys import LOCAL_PROVIDER, PAYMENTS, PLANS
from gateway.http.openapi.paths import billing as billing_doc
from gateway.http.routing import LOCAL_PAGES, Route, declare
from gateway.payments.local import DECLINED_STATUS, LocalProvider
from gateway.payments.local_objects import CARDS, SUCCEEDS
from gateway.services.money.payment.events import apply_event
from gateway.services.money.payment.port import ProviderEvent

PREFIX = "/billing/local"
ENDED = {
    "complete": "This checkout is complete.",
    "expired": "This checkout was cancelled: nothing was charged.",
    DECLINED_STATUS: "The card was declined: nothing was charged.",
}
STYLE = "body{font-family:sans-serif;max-width:36em;margin:3em auto}button{margin-right:.5em}"


def _local(request: web.Request) -> LocalProvider:
    provider = request.config_dict.get(LOCAL_PROVIDER)
    if provider is None:
        raise NotFound("The local payments provider is not in use here.")
    return provider


def _page(title: str, body: str) -> web.Response:
    html = (
        f"<!doctype html><html><head><meta charset=utf-8><title>{escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>{body}"
        "<p><small>Local payments provider: no money moves.</small></p></body></html>"
    )
    return web.Response(text=html, content_type="text/html")


def _return_outcome(outcome: str, session: dict[str, object]) -> str:
    """What the return URL's `checkout` says: success, declined (a card refused: the
    person did not cancel, and is told so) or cancel."""
    if outcome in ("succeeded", "complete"):
        return "success"
    declined = outcome in ("failed", DECLINED_STATUS) or session.get("status") == DECLINED_STATUS
    return "declined" if declined else "cancel"


def _back(doc: dict[str, object], outcome: str | None = None) -> str:
    """The button back to where the person came from (the dashboard's billing page unless
    the caller named an allowed return_url), as Stripe's pages send them to success_url."""
    back = str(doc.get("return_url") or "")
    if not back:
        return ""
    if outcome is not None:
        back = with_params(back, [("checkout", outcome)])
    return f'<p><a id=back class=button href="{escape(back)}">Back to billing</a></p>'


def _cards() -> str:
    options = "".join(
        f"<option value={n}{' selected' if n == SUCCEEDS else ''}>{n} ({escape(w)})</option>"
        for n, w in CARDS.items()
    )
    return f"<p><label>Card <select name=card>{options}</select></label></p>"


async def _form(request: web.Request) -> dict[str, str]:
    """The page's form fields; a body that is not a form is the client's error."""
    try:
        form = await request.post()
    except ValueError as exc:
        raise InvalidRequest("Send the page's form (application/x-www-form-urlencoded).") from exc
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def _apply(request: web.Request, events: Sequence[ProviderEvent]) -> None:
    payments = request.config_dict[PAYMENTS]
    for event in events:
        await apply_event(payments, event)


async def _session(request: web.Request) -> dict[str, object]:
    doc = await _local(request).store.get(request.match_info["id"])
    if doc is None or "mode" not in doc:
        raise NotFound("No such checkout.")
    return doc


def _plan_price(request: web.Request, name: str) -> str:
    """What a plan costs, said before the person pays for it."""
    plan = request.config_dict[PLANS].get(name)
    return f": <b id=price>{usd(plan.price_micros)}</b> a month" if plan is not None else ""


async def checkout_page(request: web.Request) -> web.Response:
    s = await _session(request)
    plan = str(s.get("plan"))
    what = {
        "setup": "Save a card for future payments.",
        "payment": f"Add <b id=price>{usd(int(str(s.get('amount_micros', 0))))}</b> of credit.",
        "subscription": f"Subscribe to the {escape(plan)} plan{_plan_price(request, plan)}.",
    }[str(s["mode"])]
    if s["status"] != "open":
        ended = ENDED.get(str(s["status"]), f"This checkout is {escape(str(s['status']))}.")
        return _page("Checkout", f"<p>{what}</p><p>{ended}</p>{_back(s)}")
    form = (
        f"<form method=post><p>{what}</p>{_cards()}"
        "<button name=action value=pay>Pay</button><button name=action value=fail>Fail</button>"
        "<button name=action value=cancel>Cancel</button></form>"
    )
    return _page("Checkout", form)


async def checkout_submit(request: web.Request) -> web.Response:
    form = await _form(request)
    provider = _local(request)
    session_id = request.match_info["id"]
    await _session(request)
    events = await provider.complete(session_id, str(form.get("action")), str(form.get("card")))
    await _apply(request, events)
    after = await provider.store.get(session_id) or {}
    payment = await provider.store.get(str(after.get("payment_id") or "")) or {}
    if payment.get("status") == "requires_action":
        # the checkout rides along, so the result page can lead back where it should
        raise web.HTTPSeeOther(f"{PREFIX}/authenticate/{payment['id']}?checkout={session_id}")
    raise web.HTTPSeeOther(f"{PREFIX}/checkout/{session_id}/done")


async def done_page(request: web.Request) -> web.Response:
    s = await _session(request)
    provider = _local(request)
    payment = await provider.store.get(str(s.get("payment_id") or "")) or {}
    outcome = str(payment.get("status") or s["status"])
    back = _back(s, _return_outcome(outcome, s))
    return _page("Checkout", f"<p>Result: <b id=outcome>{escape(outcome)}</b></p>{back}")


async def authenticate_page(request: web.Request) -> web.Response:
    form = (
        "<form method=post><p>Your bank asks you to confirm this payment.</p>"
        "<button name=action value=complete>Complete authentication</button>"
        "<button name=action value=fail>Fail authentication</button></form>"
    )
    return _page("Authenticate", form)


async def authenticate_submit(request: web.Request) -> web.Response:
    form = await _form(request)
    provider = _local(request)
    payment_id = request.match_info["id"]
    events = await provider.authenticate(payment_id, form.get("action") == "complete")
    await _apply(request, events)
    doc = await provider.store.get(payment_id) or {}
    outcome = str(doc.get("status"))
    session = await provider.store.get(request.query.get("checkout", "")) or {}
    mine = session.get("payment_id") == payment_id  # only the checkout this payment is of
    back = _back(session, _return_outcome(outcome, session)) if mine else ""
    return _page("Authenticate", f"<p>Result: <b id=outcome>{escape(outcome)}</b></p>{back}")


async def _portal(request: web.Request) -> tuple[str, dict[str, object]]:
    """The customer behind a portal session (or, for links made before portal sessions, a
    customer id itself) and the session."""
    doc = await _local(request).store.get(request.match_info["id"])
    if doc is None:
        raise NotFound("No such customer.")
    if "customer" in doc and "return_url" in doc:
        return str(doc["customer"]), doc
    return str(doc["id"]), {}


async def portal_page(request: web.Request) -> web.Response:
    provider = _local(request)
    customer, session = await _portal(request)
    info = await provider.portal(customer)
    card = info["card"]
    rows = "".join(
        f"<li>{escape(p['id'])}: {usd(p['amount_micros'])} {escape(p['status'])}</li>"
        for p in info["payments"]
    )
    subs = "".join(
        f"<li>{escape(s['id'])}: {escape(s['plan'])} {escape(s['status'])}</li>"
        for s in info["subscriptions"]
    )
    method = f"card ending {escape(card[-4:])}" if card else "none"
    body = (
        f"<p>Payment method on file: <b id=method>{method}</b></p>"
        f"<form method=post action={PREFIX}/portal/{escape(request.match_info['id'])}/card>"
        f"{_cards()}<button>Save card</button></form>"
        f"<h2>Payments</h2><ul>{rows}</ul><h2>Subscriptions</h2><ul>{subs}</ul>{_back(session)}"
    )
    return _page("Billing portal", body)


async def portal_card(request: web.Request) -> web.Response:
    """Replacing the card in the portal is a setup, and pays an open (past due) invoice."""
    provider = _local(request)
    customer, _ = await _portal(request)
    form = await _form(request)
    await _apply(request, await provider.replace_card(customer, str(form.get("card"))))
    raise web.HTTPSeeOther(f"{PREFIX}/portal/{request.match_info['id']}")


async def renew(request: web.Request) -> web.Response:
    """Simulate the subscription's renewal day: bill the next period with the card on file."""
    provider = _local(request)
    sub = await provider.store.get(request.match_info["id"])
    if sub is None or "plan" not in sub:
        raise NotFound("No such subscription.")
    events = await provider.renew(request.match_info["id"])
    await _apply(request, events)
    return web.json_response({"events": [e.type for e in events]})


async def refund(request: web.Request) -> web.Response:
    """Simulate the operator refunding a payment from the provider's dashboard."""
    provider = _local(request)
    payment = await provider.store.get(request.match_info["id"])
    if payment is None or "purpose" not in payment:
        raise NotFound("No such payment.")
    events = await provider.refund_payment(request.match_info["id"])
    await _apply(request, events)
    return web.json_response({"events": [e.type for e in events]})


def add_routes(app: web.Application) -> None:
    pages = web.Application()
    r = pages.router
    declare(
        r,
        Route(
            "GET", "/checkout/{id}", checkout_page, authority.PUBLIC, doc=billing_doc.CHECKOUT_PAGE
        ),
        Route(
            "POST",
            "/checkout/{id}",
            checkout_submit,
            authority.PUBLIC,
            LOCAL_PAGES,
            doc=billing_doc.CHECKOUT_SUBMIT,
        ),
        Route("GET", "/checkout/{id}/done", done_page, authority.PUBLIC, doc=billing_doc.DONE_PAGE),
        Route(
            "GET",
            "/authenticate/{id}",
            authenticate_page,
            authority.PUBLIC,
            doc=billing_doc.AUTHENTICATE_PAGE,
        ),
        Route(
            "POST",
            "/authenticate/{id}",
            authenticate_submit,
            authority.PUBLIC,
            LOCAL_PAGES,
            doc=billing_doc.AUTHENTICATE_SUBMIT,
        ),
        Route("GET", "/portal/{id}", portal_page, authority.PUBLIC, doc=billing_doc.PORTAL_PAGE),
        Route(
            "POST",
            "/portal/{id}/card",
            portal_card,
            authority.PUBLIC,
            LOCAL_PAGES,
            doc=billing_doc.PORTAL_CARD,
        ),
        Route(
            "POST",
            "/subscriptions/{id}/renew",
            renew,
            authority.PUBLIC,
            LOCAL_PAGES,
            doc=billing_doc.RENEW,
        ),
        Route(
            "POST",
            "/payments/{id}/refund",
            refund,
            authority.PUBLIC,
            LOCAL_PAGES,
            doc=billing_doc.REFUND,
        ),
    )
    app.add_subapp(PREFIX, pages)
