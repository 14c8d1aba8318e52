"""People signing in to the dashboard through a SAML 2.0 identity provider (Okta, Entra ID,
Google Workspace, ...): Meterway is the service provider (gateway/outbound/sign_in/saml_sp.py).

SP-initiated: `/signin/saml` sends the browser to the provider with an AuthnRequest; its id
is kept as a one-use ticket under the SHA-256 of a random RelayState, which a cookie of this
browser also holds, so a response answers only the browser that asked. IdP-initiated (an
app tile) answers no request and is taken only with SAML_IDP_INITIATED. Either way each
assertion signs in once: its issuer and id are remembered until it expires. The person is
then bound like an OIDC user (issuer = the provider's entity id, subject = the NameID, and
the e-mail address it asserts), by the same invitation-by-acceptance rules (`entry.land`).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from aiohttp import web

from billing import authority
from gateway.errors import NotFound, SigninFailed
from gateway.http.appkeys import SAML, SETTINGS, SIGNIN_TICKETS
from gateway.http.dashboard.people.entry import land
from gateway.http.dashboard.people.session import BASE, digest
from gateway.http.openapi.paths import dashboard as dashboard_doc
from gateway.http.routing import SIGN_IN, Route, declare
from gateway.services.members.identity import Person

if TYPE_CHECKING:  # pysaml2 is imported by the first sign-in (outbound/sign_in/saml_signin.py)
    from gateway.outbound.sign_in.saml_sp import SamlServiceProvider

STATE_COOKIE = "mw_saml_state"
ATTEMPT_TTL_S = 600


async def _sp(request: web.Request) -> SamlServiceProvider:
    signin = request.config_dict.get(SAML)
    if signin is None:
        raise NotFound("Sign-in by SAML is not configured (SAML_IDP_METADATA_URL or _FILE).")
    return await signin.provider()


async def metadata(request: web.Request) -> web.Response:
    """What the identity provider is given: entity id, assertion consumer URL."""
    sp = await _sp(request)
    return web.Response(text=sp.metadata(), content_type="application/samlmetadata+xml")


async def start(request: web.Request) -> web.Response:
    sp = await _sp(request)
    relay = secrets.token_urlsafe(32)
    request_id, url = sp.start(relay)
    ticket: dict[str, object] = {"request_id": request_id}
    await request.config_dict[SIGNIN_TICKETS].put(digest(relay), ticket, ATTEMPT_TTL_S)
    response = web.HTTPSeeOther(url)
    # SameSite=None: the way back is the provider's cross-site POST, which carries no Lax
    # cookie. The cookie names only this attempt; it signs nobody in by itself.
    secure = request.config_dict[SETTINGS].public_url.startswith("https:")
    response.set_cookie(
        STATE_COOKIE,
        relay,
        max_age=ATTEMPT_TTL_S,
        path=f"{BASE}/signin/saml",
        httponly=True,
        samesite="None" if secure else "Lax",
        secure=secure,
    )
    raise response


async def consume(request: web.Request) -> web.Response:
    """The assertion consumer: the provider's POSTed response, checked, then a session."""
    sp = await _sp(request)
    form = await request.post()
    saml_response, relay = form.get("SAMLResponse"), form.get("RelayState")
    if not isinstance(saml_response, str):
        raise SigninFailed("The identity provider's answer is missing.")
    request_id = await _this_browsers_request(request, relay)
    identity = await sp.verify(saml_response, request_id)
    used = digest(f"{identity.issuer}\n{identity.assertion_id}")
    ttl = identity.ttl_s(sp.saml.clock_skew_s)
    if not await request.config_dict[SIGNIN_TICKETS].first_use(used, ttl):
        raise SigninFailed("This sign-in was used already; start again.")
    person = Person(identity.email, identity.issuer, identity.subject, protocol="saml")
    response = await land(request, person)
    response.del_cookie(STATE_COOKIE, path=f"{BASE}/signin/saml")
    raise response


async def _this_browsers_request(request: web.Request, relay: object) -> str | None:
    """The AuthnRequest id this browser's attempt sent; None when the response names no
    attempt of this browser (IdP-initiated, or another browser's: the verifier then refuses
    any response that answers a request)."""
    cookie = request.cookies.get(STATE_COOKIE, "")
    if not cookie or not isinstance(relay, str) or not secrets.compare_digest(cookie, relay):
        return None
    ticket = await request.config_dict[SIGNIN_TICKETS].take(digest(relay))
    if ticket is None:
        raise SigninFailed("This sign-in expired or was used already; start again.")
    return str(ticket["request_id"])


def add_routes(dash: web.Application) -> None:
    declare(
        dash.router,
        Route(
            "GET",
            "/signin/saml/metadata",
            metadata,
            authority.PUBLIC,
            doc=dashboard_doc.page("This gateway's SAML service provider metadata"),
        ),
        Route(
            "GET",
            "/signin/saml",
            start,
            authority.PUBLIC,
            doc=dashboard_doc.page("On to the SAML identity provider"),
        ),
        Route(
            "POST",
            "/signin/saml/acs",
            consume,
            authority.PUBLIC,
            SIGN_IN,
            doc=dashboard_doc.page("Back from the SAML identity provider: a session"),
        ),
    )
