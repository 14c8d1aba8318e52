"""People signing in to the dashboard without a key: by their identity provider (OpenID
Connect, authorization code + PKCE) or by a link e-mailed to an invited address.

Both end in a member session (`dashboard_session.start_member_session`). The OIDC attempt's
secrets and the e-mailed links are one-use tickets in Redis, kept under their SHA-256. The
attempt is also bound to the browser that started it by a cookie holding its `state`, so no
one can finish a sign-in they did not start in another person's browser. An e-mailed link
opens a page with a button rather than signing in on GET: mail scanners open links.
"""

from __future__ import annotations

import hashlib
import secrets
from urllib.parse import quote

from aiohttp import web
from aiohttp.helpers import ChainMapProxy

from billing import authority
from gateway.errors import NotFound, SigninFailed, SigninRateLimited
from gateway.http.appkeys import COURIER, LEDGER, MEMBERS, OIDC, SETTINGS, SIGNIN_TICKETS
from gateway.http.client_address import client_address
from gateway.http.dashboard.people.entry import ATTEMPT_COOKIE, land
from gateway.http.dashboard.people.session import BASE, PRE_COOKIE, digest, set_cookie
from gateway.http.dashboard.web import CONTEXT
from gateway.http.dashboard.web import render as render_page
from gateway.http.openapi.paths import dashboard as dashboard_doc
from gateway.http.routing import SIGN_IN, Route, declare
from gateway.outbound.mail import signin as signin_mail
from gateway.outbound.sign_in.oidc_client import Attempt, OidcClient
from gateway.services.members.identity import Person

ATTEMPT_TTL_S = 600
LINK_TTL_S = signin_mail.LINK_MINUTES * 60
CALLBACK = f"{BASE}/signin/oidc/callback"


def signin_form(
    request: web.Request, *, status: int = 200, error: str = "", notice: str = "", link: str = ""
) -> web.Response:
    """The sign-in page (or, with `link`, the button that uses an e-mailed link), with the
    double-submit CSRF cookie its forms need."""
    token = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(24)
    request[CONTEXT] = {"session": None, "csrf": token}
    signin, saml = request.config_dict[SETTINGS].signin, request.config_dict[SETTINGS].saml
    response = render_page(
        request,
        "signin.html",
        status=status,
        title="Sign in",
        error=error,
        notice=notice,
        link=link,
        oidc_name=signin.oidc_name if signin.oidc else "",
        saml_name=saml.display_name if saml.enabled else "",
        email_links=signin.email_links,
        signup_open=request.config_dict[SETTINGS].signup.open,
    )
    set_cookie(request, response, PRE_COOKIE, token)
    return response


def callback_url(public_url: str) -> str:
    return public_url + CALLBACK


def _oidc(request: web.Request) -> OidcClient:
    client = request.config_dict.get(OIDC)
    if client is None:
        raise NotFound("Sign-in by identity provider is not configured (OIDC_ISSUER).")
    return client


async def oidc_start(request: web.Request) -> web.Response:
    """On to the identity provider, with this attempt's state, nonce and code challenge."""
    client = _oidc(request)
    attempt = Attempt.new()
    url = await client.authorization_url(attempt)
    ticket: dict[str, object] = {"nonce": attempt.nonce, "verifier": attempt.verifier}
    await request.config_dict[SIGNIN_TICKETS].put(digest(attempt.state), ticket, ATTEMPT_TTL_S)
    response = web.HTTPSeeOther(url)
    # Lax, not Strict: the way back is a top-level navigation from the provider's site.
    response.set_cookie(
        ATTEMPT_COOKIE,
        attempt.state,
        max_age=ATTEMPT_TTL_S,
        path=BASE,
        httponly=True,
        samesite="Lax",
        secure=request.config_dict[SETTINGS].public_url.startswith("https:"),
    )
    raise response


async def oidc_callback(request: web.Request) -> web.Response:
    client = _oidc(request)
    q = request.query
    if "error" in q:
        why = q.get("error_description") or q["error"]
        raise SigninFailed(f"The identity provider did not sign you in: {why}.")
    state, code = q.get("state", ""), q.get("code", "")
    if not state or not code or request.cookies.get(ATTEMPT_COOKIE) != state:
        raise SigninFailed("This sign-in was not started in this browser; start again.")
    ticket = await request.config_dict[SIGNIN_TICKETS].take(digest(state))
    if ticket is None:
        raise SigninFailed("This sign-in expired or was used already; start again.")
    attempt = Attempt(state, str(ticket["nonce"]), str(ticket["verifier"]))
    identity = await client.identity(code, attempt)
    email = identity.email.lower() if identity.email and identity.email_verified else ""
    raise await land(request, Person(email, identity.issuer, identity.subject))


async def email_link(request: web.Request) -> web.Response:
    """E-mail a one-use link to an address that is a member or invited anywhere. The answer
    is the same, as fast, for any address: the look-up and the mail happen after it, in the
    background, and only the rate limits (counted alike for every address) refuse."""
    settings = request.config_dict[SETTINGS]
    if not settings.signin.email_links:
        raise NotFound("Sign-in by e-mailed link is not configured (SIGNIN_EMAIL_LINKS).")
    form = await request.post()
    raw = form.get("email")
    email = raw.strip().lower() if isinstance(raw, str) else ""
    if "@" not in email or len(email) > 320:
        return signin_form(request, status=400, error="Enter your e-mail address.")
    await _within_limits(request, email)
    request.config_dict[COURIER].post("signin_link", _send_link(request.config_dict, email))
    notice = f"If {email} may sign in, a link is on its way. It works once, for 15 minutes."
    return signin_form(request, notice=notice)


async def _within_limits(request: web.Request, email: str) -> None:
    """SigninRateLimited past SIGNIN_LINK_LIMIT_CLIENT from this client address or
    SIGNIN_LINK_LIMIT_ADDRESS for this address in the window (0 turns one off)."""
    signin = request.config_dict[SETTINGS].signin
    tickets, window = request.config_dict[SIGNIN_TICKETS], signin.link_limit_window_s
    address = hashlib.sha256(email.encode()).hexdigest()
    for name, limit in (
        (f"client:{client_address(request)}", signin.link_limit_client),
        (f"address:{address}", signin.link_limit_address),
    ):
        if limit:
            count, left = await tickets.count(name, window)
            if count > limit:
                raise SigninRateLimited(
                    "Too many sign-in links were asked for; try again later.",
                    retry_after_s=max(1, left),
                )


async def _send_link(app: ChainMapProxy, email: str) -> None:
    """The link, to an address with any membership or invitation (nothing to others); the
    page it opens signs the mailbox's holder in, or lists their choices."""
    rows = await app[MEMBERS].by_email(email)
    if not rows:
        return
    settings = app[SETTINGS]
    secret = secrets.token_urlsafe(32)
    await app[SIGNIN_TICKETS].put(digest(secret), Person(email).ticket(), LINK_TTL_S)
    url = f"{settings.public_url}{BASE}/signin/link/{quote(secret)}"
    names = []
    for row in rows:
        account = await app[LEDGER].get_account(row["account_id"])
        names.append(str(account["name"]) if account else str(row["account_id"]))
    message = signin_mail.link_message(settings.signin.email_from, email, [(", ".join(names), url)])
    await signin_mail.send(settings.signin.smtp_url, message)


async def link_page(request: web.Request) -> web.Response:
    return signin_form(request, link=request.match_info["secret"])


async def link_signin(request: web.Request) -> web.Response:
    ticket = await request.config_dict[SIGNIN_TICKETS].take(digest(request.match_info["secret"]))
    if ticket is None or "email" not in ticket:
        raise SigninFailed("This link expired or was used already; ask for another.")
    raise await land(request, Person.from_ticket(ticket))


def add_routes(dash: web.Application) -> None:
    r = dash.router
    declare(
        r,
        Route(
            "GET",
            "/signin/oidc",
            oidc_start,
            authority.PUBLIC,
            doc=dashboard_doc.page("On to the identity provider (OpenID Connect)"),
        ),
        Route(
            "GET",
            "/signin/oidc/callback",
            oidc_callback,
            authority.PUBLIC,
            doc=dashboard_doc.page("Back from the identity provider: a session"),
        ),
        Route(
            "POST",
            "/signin/email",
            email_link,
            authority.PUBLIC,
            SIGN_IN,
            doc=dashboard_doc.page("E-mail a one-use sign-in link (one answer for all)"),
        ),
        Route(
            "GET",
            "/signin/link/{secret}",
            link_page,
            authority.PUBLIC,
            doc=dashboard_doc.page("The page of an e-mailed link: a Sign in button"),
        ),
        Route(
            "POST",
            "/signin/link/{secret}",
            link_signin,
            authority.PUBLIC,
            SIGN_IN,
            doc=dashboard_doc.page("Use an e-mailed link: a session, or choices"),
        ),
    )
