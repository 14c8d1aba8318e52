"""Invitations, accepted by the person they invite: from the invitation's own link (a page
with buttons: mail scanners open links, only a button accepts), or on the page of choices a
sign-in leads to when there is more than one way in (`entry.land`). Nothing here binds a
person to an organization they did not click for."""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from billing import authority
from gateway.errors import Conflict, NotFound, SigninFailed
from gateway.http import audited
from gateway.http.appkeys import DOMAIN_CLAIMS, LEDGER, MEMBERS
from gateway.http.dashboard.people.entry import CHOOSE, choices, chooser, end_choices, enter
from gateway.http.dashboard.people.session import PRE_COOKIE, digest, set_cookie
from gateway.http.dashboard.web import CONTEXT
from gateway.http.dashboard.web import render as render_page
from gateway.http.openapi.paths import dashboard as dashboard_doc
from gateway.http.people.membership import member_json
from gateway.http.routing import INVITEE, SIGN_IN, Route, audits, declare
from gateway.services.audit import Actor
from gateway.services.members import identity as people
from gateway.services.members import joining
from gateway.stores.ports import MembersPort
from gateway.stores.records import Row

LINK_MAX_AGE_S = people.ACCEPT_LINK_DAYS * 86400
INVITATION = "/signin/invitation"
_BLANK: dict[str, Any] = {
    "invitation": None,
    "secret": "",
    "declined": None,
    "person": "",
    "members": [],
    "pending": [],
    "may_accept": False,
}


def _page(request: web.Request, **context: Any) -> web.Response:
    """A page of the sign-in (no session yet): its forms use the double-submit cookie."""
    token = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(24)
    request[CONTEXT] = {"session": None, "csrf": token}
    context = _BLANK | context
    response = render_page(request, "invitations.html", title="Invitations", **context)
    set_cookie(request, response, PRE_COOKIE, token)
    return response


async def _named(request: web.Request, rows: list[Row]) -> list[dict[str, str]]:
    """Each member row with its organization's name, for the page."""
    ledger, named = request.config_dict[LEDGER], []
    for row in rows:
        account = await ledger.get_account(row["account_id"])
        name = str(account["name"]) if account else str(row["account_id"])
        named.append({"id": str(row["id"]), "account": name, "role": str(row["role"])})
    return named


async def choose_page(request: web.Request) -> web.Response:
    found = await choices(request, await chooser(request))
    return _page(
        request,
        person=found.person.email or found.person.subject,
        members=await _named(request, found.members),
        pending=await _named(request, found.pending),
        may_accept=found.may_accept,
    )


async def choose_enter(request: web.Request) -> web.Response:
    found = await choices(request, await chooser(request))
    wanted = request.match_info["member_id"]
    member = next((m for m in found.members if m["id"] == wanted), None)
    if member is None:
        raise NotFound("You are not a member of that organization.")
    await end_choices(request)
    raise await enter(request, member, found.person.via)


async def choose_accept(request: web.Request) -> web.Response:
    found = await choices(request, await chooser(request))
    if not found.may_accept:
        raise Conflict("Your sign-in is a member of another organization already.")
    invited = await _members(request).get(request.match_info["member_id"])
    if invited is not None:
        await joining.may_accept(_members(request), request.config_dict[DOMAIN_CLAIMS], invited)
    row = await people.accept(found.person, request.match_info["member_id"], _members(request))
    await end_choices(request)
    await _accepted(request, row, found.person.via)
    raise await enter(request, row, found.person.via)


async def _accepted(request: web.Request, row: Row, via: str) -> None:
    """The person's own act, in the audit log: they joined (and an identity provider's
    user, by OIDC or SAML, is bound to the member from now on)."""
    request[audited.ACTOR] = Actor("member", str(row["id"]), via)
    after = member_json(row)
    await audited.record(
        request, "member.accept", "member", row["id"], row["account_id"], None, after
    )


async def choose_decline(request: web.Request) -> web.Response:
    person = await chooser(request)
    await people.decline(person, request.match_info["member_id"], _members(request))
    raise web.HTTPSeeOther(CHOOSE)


def _members(request: web.Request) -> MembersPort:
    return request.config_dict[MEMBERS]


async def _invitation(request: web.Request) -> Row:
    secret = request.match_info["secret"]
    row = await _members(request).by_accept_digest(digest(secret), LINK_MAX_AGE_S)
    if row is None:
        raise SigninFailed("This invitation was accepted, declined or withdrawn, or expired.")
    return row


async def invitation_page(request: web.Request) -> web.Response:
    (named,) = await _named(request, [await _invitation(request)])
    return _page(request, invitation=named, secret=request.match_info["secret"])


async def invitation_accept(request: web.Request) -> web.Response:
    """Accepting by the link signs its holder in as the invited member: the link went to
    that address (or the inviter handed it on). It binds no identity provider's user."""
    invited = await _invitation(request)
    await joining.may_accept(_members(request), request.config_dict[DOMAIN_CLAIMS], invited)
    secret = request.match_info["secret"]
    row = await _members(request).accept_by_digest(digest(secret), LINK_MAX_AGE_S)
    if row is None:
        raise SigninFailed("This invitation was accepted, declined or withdrawn, or expired.")
    await _accepted(request, row, "invitation link")
    raise await enter(request, row, "invitation link")


async def invitation_decline(request: web.Request) -> web.Response:
    row = await _invitation(request)
    await _members(request).decline(row["id"], row["email"])
    (named,) = await _named(request, [row])
    return _page(request, declined=named)


def add_routes(dash: web.Application) -> None:
    r = dash.router
    declare(
        r,
        Route(
            "GET",
            "/signin/choose",
            choose_page,
            authority.PUBLIC,
            doc=dashboard_doc.page("After a sign-in: organizations to enter, invitations"),
        ),
        Route(
            "POST",
            "/signin/choose/{member_id}/enter",
            choose_enter,
            authority.PUBLIC,
            SIGN_IN,
            doc=dashboard_doc.page("Enter one of your organizations"),
        ),
        Route(
            "POST",
            "/signin/choose/{member_id}/accept",
            choose_accept,
            authority.PUBLIC,
            audits("member.accept"),
            doc=dashboard_doc.page("Accept an invitation: a session"),
        ),
        Route(
            "POST",
            "/signin/choose/{member_id}/decline",
            choose_decline,
            authority.PUBLIC,
            INVITEE,
            doc=dashboard_doc.page("Decline an invitation"),
        ),
        Route(
            "GET",
            INVITATION + "/{secret}",
            invitation_page,
            authority.PUBLIC,
            doc=dashboard_doc.page("An invitation's link: Accept, Decline"),
        ),
        Route(
            "POST",
            INVITATION + "/{secret}",
            invitation_accept,
            authority.PUBLIC,
            audits("member.accept"),
            doc=dashboard_doc.page("Accept by the link, once: a session"),
        ),
        Route(
            "POST",
            INVITATION + "/{secret}/decline",
            invitation_decline,
            authority.PUBLIC,
            INVITEE,
            doc=dashboard_doc.page("Decline by the link"),
        ),
    )
