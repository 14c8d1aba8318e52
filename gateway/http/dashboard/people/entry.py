"""Where a person a sign-in proved goes next: straight into their one organization, or to
the page of their choices (organizations to enter, invitations to accept or decline).

The choices are kept in Redis for a few minutes under the SHA-256 of a random cookie, the
person's proof (identity provider's user or mailbox) with them, so the page's buttons act
for that person only and never for whoever names a member id."""

from __future__ import annotations

import secrets
from dataclasses import replace

from aiohttp import web

from gateway.errors import SigninFailed
from gateway.http import audited
from gateway.http.appkeys import DIRECTORY, DOMAIN_CLAIMS, MEMBERS, SETTINGS, SIGNIN_TICKETS
from gateway.http.dashboard.people import after_signin
from gateway.http.dashboard.people.session import BASE, COOKIE, PRE_COOKIE, digest, set_cookie
from gateway.http.dashboard.people.session import start_member_session as member_session
from gateway.http.people import signup_flow
from gateway.http.people.membership import member_json
from gateway.services.audit import Actor
from gateway.services.members import domain_claims
from gateway.services.members.identity import Choices, Person, choices_of, nobody
from gateway.services.members.joining import Joining, Way, join
from gateway.stores.records import Row

ATTEMPT_COOKIE = "mw_oidc_state"
CHOICE_COOKIE = "mw_signin_choice"
CHOICE_TTL_S = 600
CHOOSE = f"{BASE}/signin/choose"


async def enter(request: web.Request, member: Row, via: str) -> web.HTTPSeeOther:
    """A member session, and on to the dashboard; the sign-in's own cookies are dropped.
    `via`: how the person signed in (oidc, e-mailed link, invitation link), for the audit log."""
    response = web.HTTPSeeOther(f"{BASE}/")
    response.headers["Location"] = after_signin.destination(request, response, BASE, f"{BASE}/")
    set_cookie(request, response, COOKIE, await member_session(request, member, via))
    for name in (PRE_COOKIE, ATTEMPT_COOKIE, CHOICE_COOKIE):
        response.del_cookie(name, path=BASE)
    return response


async def choices(request: web.Request, person: Person) -> Choices:
    """The person's ways in; of their invitations, only their proven domain's organization's."""
    app = request.config_dict
    found = await choices_of(person, app[MEMBERS], app[DIRECTORY], app[DOMAIN_CLAIMS])
    pending = await domain_claims.offered(app[DOMAIN_CLAIMS], person.email, found.pending)
    return replace(found, pending=pending)


async def land(request: web.Request, person: Person) -> web.HTTPSeeOther:
    """After a sign-in: the one organization, else the page of choices."""
    found = await choices(request, person)
    if found.must_choose:
        return await _to_choices(request, person)
    if found.members:
        return await enter(request, found.members[0], person.via)
    joined = await _joins_by_domain(request, person)
    if joined is not None:
        return await enter(request, joined, person.via)
    signed_up = await signup_flow.person_signs_up(request, person)
    if signed_up is not None:  # no invitation, sign-up open: their own organization
        return await enter(request, signed_up.member, person.via)
    raise nobody(person)


async def _joins_by_domain(request: web.Request, person: Person) -> Row | None:
    """Just-in-time membership: an identity provider's user (SAML or OIDC, e-mail verified)
    of a domain whose proven claim names a join role becomes a member, bound at once, if
    the one rule admits them (services/members/joining.py: not removed; the same member again when
    the provider spells their NameID another way)."""
    if not (person.subject and person.email):
        return None
    app = request.config_dict
    holder = await domain_claims.holder_of(app[DOMAIN_CLAIMS], person.email)
    if holder is None or holder["join_role"] is None:
        return None
    account_id, role = str(holder["account_id"]), str(holder["join_role"])
    j = Joining(account_id, person.email, Way.SIGN_IN, role, person.issuer, person.subject)
    joined = await join(app[MEMBERS], app[DOMAIN_CLAIMS], j)
    row = joined.member
    if joined.new:
        request[audited.ACTOR] = Actor("member", str(row["id"]), person.via)
        after = {**member_json(row), "domain": holder["domain"]}
        await audited.record(
            request, "member.join", "member", str(row["id"]), account_id, None, after
        )
    return row


async def _to_choices(request: web.Request, person: Person) -> web.HTTPSeeOther:
    cookie = secrets.token_urlsafe(32)
    await request.config_dict[SIGNIN_TICKETS].put(digest(cookie), person.ticket(), CHOICE_TTL_S)
    response = web.HTTPSeeOther(CHOOSE)
    # Lax, not Strict: after an identity provider this is still its top-level navigation.
    response.set_cookie(
        CHOICE_COOKIE,
        cookie,
        max_age=CHOICE_TTL_S,
        path=BASE,
        httponly=True,
        samesite="Lax",
        secure=request.config_dict[SETTINGS].public_url.startswith("https:"),
    )
    return response


async def chooser(request: web.Request) -> Person:
    """The person whose choices this browser holds; SigninFailed once they expired."""
    cookie = request.cookies.get(CHOICE_COOKIE, "")
    data = await request.config_dict[SIGNIN_TICKETS].get(digest(cookie)) if cookie else None
    if data is None:
        raise SigninFailed("This sign-in expired; sign in again to see your invitations.")
    return Person.from_ticket(data)


async def end_choices(request: web.Request) -> None:
    cookie = request.cookies.get(CHOICE_COOKIE, "")
    if cookie:
        await request.config_dict[SIGNIN_TICKETS].take(digest(cookie))
