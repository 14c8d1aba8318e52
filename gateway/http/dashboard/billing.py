"""The Billing page and the Overview's next step, from what /v1/account/billing answers.

Each form calls the use case its /v1/account/billing route calls
(services/money/payment/payments.py):
top up, save or change the payment method, the portal, auto top-up, plan change. The
provider's hosted page (the local provider's /billing/local/..., or Stripe's) is where money
moves; the dashboard only sends the browser there and shows the result afterwards.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from multidict import MultiDictProxy

from billing import authority
from billing.money.display import DollarsError, parse_dollars
from billing.money.payments import PaymentRuleError, arranged_with_sales
from billing.money.plans import Plan, PlanBook
from gateway.config.return_urls import with_params
from gateway.errors import FormAlreadySubmitted, InvalidRequest, MeterwayError, NotFound
from gateway.http import audited
from gateway.http.appkeys import FORM_TOKENS, PAYMENTS, PLANS
from gateway.http.dashboard import form_tokens
from gateway.http.dashboard.grants_view import grants_view
from gateway.http.dashboard.invoices import issued
from gateway.http.dashboard.people.session import BASE, account_principal
from gateway.http.dashboard.web import render
from gateway.http.openapi.paths import dashboard as dashboard_doc
from gateway.http.principal import BILLING_READ, BILLING_SETUP, Principal
from gateway.http.return_to import absolute, return_url
from gateway.http.routing import CHECKOUT, PROVIDER_PAGE, Route, audits, declare
from gateway.http.shared.contracts.commitments import shown
from gateway.http.shared.payment_answers import not_set_up, provider_error
from gateway.http.shared.trust.alerts import alerts_of, create_for, delete_for
from gateway.services.money.payment.port import NotConfigured, ProviderUnavailable

PAGE = f"{BASE}/billing"
PAID_PLAN = "paid_plan"  # the return address of a plan's checkout names the plan
# The button of each next step (billing.money.next_step.decide); its words and link are the step's.
BUTTONS = {
    "top_up": "Top up",
    "setup": "Set up billing",
    "fix_payment": "Fix payment",
    "wait": "See your limits",
    "contact_sales": "Contact sales",
    "wait_for_approval": "Your account",
}
Form = MultiDictProxy[str | bytes | Any]
ONCE = ("topup", "plan")  # the forms that start a payment: single-use (form_tokens.py)


def step_view(step: dict[str, Any]) -> dict[str, Any]:
    """The account's next step as the API answers it, with its button's words."""
    button = f"Upgrade to {step['plan']}" if step["action"] == "upgrade" else ""
    return {**step, "cta": button or BUTTONS.get(step["action"], "")}


async def billing_overview(request: web.Request, who: Principal) -> dict[str, Any] | None:
    """GET /v1/account/billing for this caller."""
    payments = request.config_dict.get(PAYMENTS)
    if payments is None or not who.has(BILLING_READ):
        return None
    data = await payments.overview(who.account_id, who.actor())
    return {**data, "next": step_view(data["next"])}


def _plan_view(plan: Plan, current: str, plans: PlanBook) -> dict[str, Any]:
    return {
        "name": plan.name,
        "sales": arranged_with_sales(plans, plan),
        "price_micros": plan.price_micros,
        "mode": plan.mode,
        "quotas": plan.quotas,
        "models": sorted(plan.models),
        "current": plan.name == current,
    }


async def page(request: web.Request, *, status: int = 200, **extra: Any) -> web.Response:
    who = account_principal(request)
    who.require(BILLING_READ)
    upgrade = request.query.get("upgrade") or None
    billing = await billing_overview(request, who)
    if billing is None:
        raise NotFound("Billing is not available on this gateway.")
    plans = request.config_dict[PLANS]
    views = [_plan_view(p, billing["plan"], plans) for p in plans.plans.values()]
    tokens = await _tokens(request, who, [v for v in views if not (v["current"] or v["sales"])])
    return render(
        request,
        "billing.html",
        status=status,
        title="Billing",
        nav="billing",
        billing=billing,
        plans=views,
        topup_token=tokens.get("topup", ""),
        upgrade=upgrade,
        history=await request.config_dict[PAYMENTS].history(who.account_id),
        credit=await grants_view(request, who.account_id),
        invoices=await _invoices(request, who.account_id),
        issued=await issued(request, who),
        alerts=await alerts_of(request, who.account_id),
        commitment=await shown(request, who.account_id),
        can_pay=who.has(BILLING_SETUP),
        notice=request.query.get("notice", ""),
        checkout=request.query.get("checkout", ""),  # back from a hosted page
        paid_plan=plans.plans.get(request.query.get(PAID_PLAN, "")),  # ... of a plan's checkout
        **extra,
    )


async def _tokens(
    request: web.Request, who: Principal, switchable: list[dict[str, Any]]
) -> dict[str, str]:
    """Single-use tokens of the top-up form and each plan's switch, for a caller who may pay;
    each plan view gets its own under `form_token`."""
    if not who.has(BILLING_SETUP):
        return {}
    actions = [f"{PAGE}/topup"] + [f"{PAGE}/plan"] * len(switchable)
    minted = await form_tokens.mint(request, actions)
    for view, token in zip(switchable, minted[1:], strict=True):
        view["form_token"] = token
    return {"topup": minted[0]}


async def _invoices(request: web.Request, account_id: str) -> list[dict[str, Any]]:
    """The page still shows while the provider does not answer, without its invoices."""
    try:
        return await request.config_dict[PAYMENTS].invoices(account_id)
    except ProviderUnavailable:
        return []


async def billing_page(request: web.Request) -> web.Response:
    return await page(request)


def _usd(form: Form, name: str) -> int:
    raw = form.get(name)
    try:
        return parse_dollars(raw if isinstance(raw, str) else "", "The amount")
    except DollarsError as exc:
        raise InvalidRequest(str(exc), param=name) from exc


async def _act(request: web.Request, action: str, form: Form) -> str:
    """Run one billing action; where the browser goes next."""
    who = account_principal(request)
    who.require(BILLING_SETUP)
    payments, account = request.config_dict[PAYMENTS], who.account_id
    back = return_url(request, None)
    if action == "topup":
        return absolute(request, (await payments.topup(account, _usd(form, "amount"), back)).url)
    if action in ("setup", "portal"):
        hosted = payments.setup if action == "setup" else payments.portal
        page = await hosted(account, back)
        if action == "setup":
            await audited.record(
                request, "payment.setup", "account", account, account, None, {"setup_id": page.id}
            )
        return absolute(request, page.url)
    if action == "auto-topup":
        body = None
        if form.get("enabled") == "on":
            body = {
                "threshold_micros": _usd(form, "threshold"),
                "amount_micros": _usd(form, "auto_amount"),
                "monthly_cap_micros": _usd(form, "monthly_cap"),
            }
        setting = await payments.set_auto_topup(account, body)
        await audited.record(
            request,
            "payment.auto_topup",
            "account",
            account,
            account,
            None,
            {"auto_topup": setting},
        )
        return f"{PAGE}?notice=auto-topup"
    if action == "alert-add":
        await create_for(request, account, _alert_body(form))
        return f"{PAGE}?notice=alert#alerts"
    if action == "alert-remove":
        await delete_for(request, account, _text(form, "alert_id"))
        return f"{PAGE}?notice=alert-removed#alerts"
    if action == "cancel":
        cancelled = await payments.cancel(account, back)
        await audited.record(
            request, "payment.subscription_cancel", "account", account, account, None, cancelled
        )
        return f"{PAGE}?notice=cancelled"
    plan = form.get("plan")
    result = await payments.change_plan(account, plan, _plan_back(request, back, plan))
    await audited.record(
        request,
        "payment.subscription",
        "account",
        account,
        account,
        None,
        {"plan": form.get("plan"), "status": result.get("status")},
    )
    if result["status"] == "checkout":
        return absolute(request, str(result["url"]))
    return f"{PAGE}?notice={result['status']}"


def _plan_back(request: web.Request, back: str, plan: object) -> str:
    """Where a plan's checkout returns: the Billing page, naming the plan, so that its banner
    speaks of the plan paid for, not the balance."""
    if isinstance(plan, str) and plan in request.config_dict[PLANS].plans:
        return with_params(back, [(PAID_PLAN, plan)])
    return back


def _text(form: Form, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _alert_body(form: Form) -> dict[str, object]:
    """The form as the API's body: dollars to micros, empty fields left out."""
    body: dict[str, object] = {"kind": _text(form, "kind"), "amount_micros": _usd(form, "amount")}
    for name in ("period", "email", "webhook_url"):
        if _text(form, name):
            body[name] = _text(form, name)
    if body["kind"] == "balance_below":
        body.pop("period", None)
    return body


async def _alert_with_secret(request: web.Request, form: Form) -> web.Response:
    """A webhook's secret is shown once, on the page the form answers (no redirect)."""
    who = account_principal(request)
    made = await create_for(request, who.account_id, _alert_body(form))
    return await page(request, alert_secret=made["webhook_secret"])


async def act(request: web.Request) -> web.Response:
    form = await request.post()
    action = request.path.rsplit("/", 1)[1]
    try:
        if action == "alert-add" and _text(form, "webhook_url"):
            account_principal(request).require(BILLING_SETUP)
            return await _alert_with_secret(request, form)
        target = await _once(request, action, form)
        if form_may_not_lead(request, target):
            return await page(request, hosted=target)
    except FormAlreadySubmitted:
        raise
    except PaymentRuleError as exc:
        return await page(request, status=400, error=str(exc), typed=_typed(form))
    except NotConfigured:
        refused = not_set_up()
        return await page(request, status=refused.status, error=refused.message)
    except ProviderUnavailable as exc:
        failed = provider_error(exc)
        return await page(request, status=failed.status, error=failed.message, typed=_typed(form))
    except MeterwayError as exc:
        return await page(request, status=exc.status, error=exc.message, typed=_typed(form))
    raise web.HTTPSeeOther(target)


def form_may_not_lead(request: web.Request, target: str) -> bool:
    """Whether the page's CSP (form-action 'self' https:) stops the browser following a
    form's redirect to `target`: a plain-http page on another origin (a test Stripe, or a
    PUBLIC_URL other than the address in the browser). Such a page is offered as a link,
    which the policy does not govern, with a sentence saying why."""
    parts = urlsplit(target)
    own = urlsplit(str(request.url.origin()))
    return parts.scheme == "http" and (parts.scheme, parts.netloc) != (own.scheme, own.netloc)


async def _once(request: web.Request, action: str, form: Form) -> str:
    """Run the action; a payment's start spends its form's token first, so a second submit
    of the same form opens no second checkout (it links to the first)."""
    if action not in ONCE:
        return await _act(request, action, form)
    token = form_tokens.token_of(form)
    asked = str(form.get("amount", "")).strip() if action == "topup" else ""

    def work() -> Awaitable[str]:
        return _act(request, action, form)

    try:
        return await form_tokens.once(request, token, request.path, PAGE, work, asked)
    except FormAlreadySubmitted:
        # Back from a checkout with another amount: a new top-up, not the first again
        first = await request.config_dict[FORM_TOKENS].fields_of(token)
        if not asked or first is None or first == asked:
            raise
        [fresh] = await form_tokens.mint(request, [request.path])
        return await form_tokens.once(request, fresh, request.path, PAGE, work, asked)


def _typed(form: Form) -> dict[str, str]:
    """What the person typed, drawn back into the form with the error, not replaced."""
    skip = ("csrf", form_tokens.FIELD)
    return {k: v[:64] for k, v in form.items() if isinstance(v, str) and k not in skip}


# Each form of the page: what it writes to the audit log, what it does.
FORMS = {
    "topup": (CHECKOUT, "Top up: on to the provider's payment page"),
    "setup": (audits("payment.setup"), "Save or change the payment method (provider page)"),
    "portal": (PROVIDER_PAGE, "On to the provider's billing portal"),
    "auto-topup": (audits("payment.auto_topup"), "Save or turn off auto top-up"),
    "plan": (
        audits("payment.subscription"),
        "Change plan (a checkout page when no card is on file)",
    ),
    "cancel": (
        audits("payment.subscription_cancel"),
        "Cancel the subscription at the end of its period",
    ),
    "alert-add": (audits("alert.create"), "Add an alert (a webhook's secret is shown once)"),
    "alert-remove": (audits("alert.delete"), "Remove an alert"),
}


def add_routes(dash: web.Application) -> None:
    declare(
        dash.router,
        Route(
            "GET",
            "/billing",
            billing_page,
            authority.BILLING_READ,
            doc=dashboard_doc.page("Billing: balance, method, auto top-up, plans, payments"),
        ),
    )
    for action, (audit, summary) in FORMS.items():
        path, doc = f"/billing/{action}", dashboard_doc.page(summary)
        declare(dash.router, Route("POST", path, act, authority.BILLING_SETUP, audit, doc=doc))
