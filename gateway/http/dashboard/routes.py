"""The dashboard under /dashboard: its own sub-app, its own auth (a session cookie, see
dashboard_session.py), server-rendered pages with a little progressive JavaScript.

Pages read what the account and operator APIs read, through the functions those routes
call, after the same scope checks: nothing shown here is hidden from a script.
"""

from __future__ import annotations

from aiohttp import web

from billing import authority
from gateway.errors import MeterwayError, NotFound
from gateway.http.appkeys import SETTINGS
from gateway.http.dashboard import account as dashboard_account
from gateway.http.dashboard import anomalies as dashboard_anomalies
from gateway.http.dashboard import audit as dashboard_audit
from gateway.http.dashboard import billing as dashboard_billing
from gateway.http.dashboard import byok as dashboard_byok
from gateway.http.dashboard import invoices as dashboard_invoices
from gateway.http.dashboard import keys as dashboard_keys
from gateway.http.dashboard import organization as dashboard_organization
from gateway.http.dashboard import receipts as dashboard_receipts
from gateway.http.dashboard import statements as dashboard_statements
from gateway.http.dashboard import usage as dashboard_usage
from gateway.http.dashboard.operators import accounts as dashboard_ops
from gateway.http.dashboard.operators import books as dashboard_ops_books
from gateway.http.dashboard.operators import commitments as dashboard_ops_commitments
from gateway.http.dashboard.operators import console as dashboard_ops_console
from gateway.http.dashboard.operators import money as dashboard_ops_money
from gateway.http.dashboard.operators import open as dashboard_ops_open
from gateway.http.dashboard.operators import prices as dashboard_ops_prices
from gateway.http.dashboard.operators import reconciliation as dashboard_ops_reconciliation
from gateway.http.dashboard.operators import signups as dashboard_ops_signups
from gateway.http.dashboard.people import after_signin
from gateway.http.dashboard.people import invitations as dashboard_invitations
from gateway.http.dashboard.people import saml as dashboard_saml
from gateway.http.dashboard.people import signin as dashboard_signin
from gateway.http.dashboard.people import signup as dashboard_signup
from gateway.http.dashboard.people.session import (
    BASE,
    COOKIE,
    PRE_COOKIE,
    SESSION,
    end_session,
    session_middleware,
    set_cookie,
    start_session,
)
from gateway.http.dashboard.people.signin import signin_form
from gateway.http.dashboard.web import (
    ASSETS,
    TEMPLATES,
    environment,
    not_found,
    page_middleware,
)
from gateway.http.openapi.paths import dashboard as dashboard_doc
from gateway.http.routing import SESSION_END, SIGN_IN, Route, audits, declare


async def signin_page(request: web.Request) -> web.Response:
    return signin_form(request)


async def signin(request: web.Request) -> web.Response:
    """Exchange an API key, admin key or token for a session cookie; the credential is
    checked as the APIs check it and then forgotten."""
    form = await request.post()
    raw = form.get("credential")
    try:
        cookie, data = await start_session(request, raw.strip() if isinstance(raw, str) else "")
    except MeterwayError as exc:
        return signin_form(request, status=exc.status, error=exc.message)
    home = f"{BASE}/" if data.get("account_id") else f"{BASE}/operators"
    response = web.HTTPSeeOther(home)
    kept = after_signin.destination(request, response, BASE, home)
    if data.get("account_id"):  # an operator session has no account page to go back to
        response.headers["Location"] = kept
    set_cookie(request, response, COOKIE, cookie)
    response.del_cookie(PRE_COOKIE, path=BASE)
    raise response


async def signout(request: web.Request) -> web.Response:
    await end_session(request)
    response = web.HTTPSeeOther(f"{BASE}/signin")
    response.del_cookie(COOKIE, path=BASE)
    raise response


async def home(request: web.Request) -> web.Response:
    if request[SESSION].principal is None:
        raise web.HTTPSeeOther(f"{BASE}/operators")
    return await dashboard_account.overview(request)


STATIC = {p.name: p for p in (ASSETS / "static").iterdir() if p.suffix in (".css", ".js")}


async def static_file(request: web.Request) -> web.FileResponse:
    """Only the files shipped in dashboard/assets/static, by exact name: no path walking."""
    path = STATIC.get(request.match_info["name"])
    if path is None:
        raise NotFound("No such file.")
    return web.FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})


def add_routes(app: web.Application) -> None:
    dash = web.Application(middlewares=[page_middleware, session_middleware])
    dash[TEMPLATES] = environment()
    # Where a typed expiry date ends (billing/dates.py), named beside every date field.
    dash[TEMPLATES].globals["zone"] = app[SETTINGS].timezone
    r = dash.router
    declare(
        r,
        Route(
            "GET",
            "",
            home,
            authority.SESSION,
            doc=dashboard_doc.page("Overview (or the Operators page for an operator session)"),
        ),
        Route("GET", "/", home, authority.SESSION, doc=dashboard_doc.page("Overview")),
        Route(
            "GET", "/signin", signin_page, authority.PUBLIC, doc=dashboard_doc.page("Sign-in form")
        ),
        Route(
            "POST",
            "/signin",
            signin,
            authority.PUBLIC,
            SIGN_IN,
            doc=dashboard_doc.page("Exchange an API key, token or admin key for a session"),
        ),
        Route(
            "POST",
            "/signout",
            signout,
            authority.SESSION,
            SESSION_END,
            doc=dashboard_doc.page("End the session"),
        ),
    )
    dashboard_signin.add_routes(dash)
    dashboard_saml.add_routes(dash)
    dashboard_invitations.add_routes(dash)
    dashboard_signup.add_routes(dash)
    dashboard_ops_signups.add_routes(dash)
    dashboard_ops_reconciliation.add_routes(dash)
    dashboard_ops_books.add_routes(dash)
    dashboard_ops_commitments.add_routes(dash)
    dashboard_ops_prices.add_routes(dash)
    declare(
        r,
        Route(
            "GET",
            "/usage",
            dashboard_usage.usage,
            authority.USAGE_READ,
            doc=dashboard_doc.page("Usage report with filters"),
        ),
        Route(
            "GET",
            "/usage/export",
            dashboard_usage.usage_export,
            authority.USAGE_READ,
            doc=dashboard_doc.page("The usage report as a CSV download"),
        ),
        Route(
            "GET",
            "/usage/requests/{request_id}",
            dashboard_usage.request_page,
            authority.LEDGER_READ,
            doc=dashboard_doc.page("A request's ledger rows and its price"),
        ),
        Route(
            "GET",
            "/keys",
            dashboard_keys.keys_page,
            authority.KEYS_READ,
            doc=dashboard_doc.page("Keys"),
        ),
        Route(
            "POST",
            "/keys",
            dashboard_keys.create,
            authority.KEYS_WRITE,
            audits("key.create"),
            doc=dashboard_doc.page("Create a key; the answer shows its secret once"),
        ),
        Route(
            "POST",
            "/keys/{key_id}/rotate",
            dashboard_keys.rotate,
            authority.KEYS_WRITE,
            audits("key.rotate"),
            doc=dashboard_doc.page("Rotate a key"),
        ),
        Route(
            "POST",
            "/keys/{key_id}/revoke",
            dashboard_keys.revoke,
            authority.KEYS_WRITE,
            audits("key.revoke"),
            doc=dashboard_doc.page("Revoke a key"),
        ),
        Route(
            "POST",
            "/keys/{key_id}/resume",
            dashboard_anomalies.resume,
            authority.KEYS_WRITE,
            audits("key.resume"),
            doc=dashboard_doc.page("Lift a key's pause after a spend anomaly"),
        ),
        Route(
            "POST",
            "/keys/anomaly-pause",
            dashboard_anomalies.pause_choice,
            authority.ORG_WRITE,
            audits("account.anomaly_pause"),
            doc=dashboard_doc.page("Pause keys automatically on a spend anomaly, or only tell"),
        ),
        Route(
            "POST",
            "/keys/{key_id}/limits",
            dashboard_keys.limits,
            authority.KEYS_WRITE,
            audits("key.quotas"),
            doc=dashboard_doc.page("Set a key's limits"),
        ),
        Route(
            "POST",
            "/keys/{key_id}/team",
            dashboard_keys.team,
            authority.ORG_WRITE,
            audits("key.team"),
            doc=dashboard_doc.page("Put a key in a team, or in none"),
        ),
    )
    dashboard_organization.add_routes(dash)
    dashboard_billing.add_routes(dash)
    dashboard_byok.add_routes(dash)
    dashboard_statements.add_routes(dash)
    dashboard_receipts.add_routes(dash)
    dashboard_invoices.add_routes(dash)
    dashboard_ops.add_routes(dash)
    dashboard_ops_money.add_routes(dash)
    dashboard_ops_console.add_routes(dash)
    dashboard_ops_open.add_routes(dash)
    dashboard_audit.add_routes(dash)
    declare(
        r,
        Route(
            "GET",
            "/static/{name}",
            static_file,
            authority.PUBLIC,
            doc=dashboard_doc.page("A static file shipped with the package"),
        ),
        Route("*", "/{tail:.*}", not_found, authority.PUBLIC),
    )  # last: what no route above holds
    app.add_subapp(BASE, dash)
