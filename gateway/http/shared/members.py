"""An organization's own members over the account API: owners and admins (`org:write`)
invite people by e-mail with a role, change roles and remove members; anyone who reads the
account sees who its members are. Only an owner makes owners, or changes or removes one
(billing/roles.py's `may_grant`). The dashboard's members page calls the same functions."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from billing import authority
from billing.grants import Grant
from billing.roles import ROLES, may_grant
from gateway.errors import (
    AccountPending,
    AccountRejected,
    InvitationsRateLimited,
    NotFound,
    PermissionDenied,
)
from gateway.http import audited, bodies, key_grants
from gateway.http.appkeys import LEDGER, MEMBERS, SETTINGS, SIGNIN_TICKETS, STORE
from gateway.http.openapi.paths import organization as org_doc
from gateway.http.people.membership import add_member, member_json, role_field
from gateway.http.principal import ACCOUNT_READ, ORG_WRITE, Principal, require
from gateway.http.routing import Route, audits, declare
from gateway.llm.reading.calls import parse_json
from gateway.services.keys.mint import Creator, invitation
from gateway.services.members.joining import leave, narrow
from gateway.stores.records import Row


def _granter(who: Principal) -> str:
    """A key or a token without a role acts as an owner: it holds org:write outright."""
    return who.role or "owner"


def grantable(who: Principal) -> list[str]:
    """The roles the caller may give, take away or change (none without org:write)."""
    if not who.has(ORG_WRITE):
        return []
    return [r for r in ROLES if may_grant(_granter(who), r)]


def _may(who: Principal, role: str) -> None:
    if not may_grant(_granter(who), role):
        raise PermissionDenied("Only an owner makes, changes or removes owners.", param="role")


async def members_of(request: web.Request, who: Principal) -> list[Row]:
    who.require(ACCOUNT_READ)
    return list(await request.config_dict[MEMBERS].of_account(who.account_id))


async def _member(request: web.Request, who: Principal, member_id: str) -> Row:
    row = await request.config_dict[MEMBERS].get(member_id)
    if row is None or row["account_id"] != who.account_id:
        raise NotFound("No such member.")
    return row


async def invite_for(request: web.Request, who: Principal, body: dict[str, Any]) -> Row:
    """Invite a person into the caller's organization (default role `member`): an
    invitation link made by the one mint, from an organization that may act (a sign-up
    waiting for approval, or rejected, invites nobody), at most SIGNIN_INVITE_LIMIT_ACCOUNT
    in a window."""
    who.require(ORG_WRITE)
    creator = Creator(who.account_id, Grant(who.scopes, frozenset()), who.scopes)
    invitation(creator, _granter(who), role_field(body, "member"))  # before any count
    await _may_invite(request, who.account_id)
    return await add_member(request, who.account_id, body, "member", (creator, _granter(who)))


async def _may_invite(request: web.Request, account_id: str) -> None:
    app = request.config_dict
    account = await app[LEDGER].get_account(account_id)
    status = (account or {}).get("signup_status")
    if status == "pending":
        raise AccountPending("This organization waits for approval; it invites nobody yet.")
    if status == "rejected":
        raise AccountRejected("This organization's sign-up was declined; it invites nobody.")
    signin = app[SETTINGS].signin
    if signin.invite_limit_account:
        name = f"invite-account:{account_id}"
        count, left = await app[SIGNIN_TICKETS].count(name, signin.link_limit_window_s)
        if count > signin.invite_limit_account:
            raise InvitationsRateLimited(
                "This organization sent too many invitations; try again later.",
                retry_after_s=left,
            )


async def set_role_for(request: web.Request, who: Principal, member_id: str, role: object) -> Row:
    """Change a member's role; an owner's, or to owner, only by an owner."""
    who.require(ORG_WRITE)
    row = await _member(request, who, member_id)
    wanted = role_field({"role": role}, "")
    _may(who, row["role"])
    _may(who, wanted)
    app = request.config_dict
    changed, fitted = await narrow(app[MEMBERS], app[LEDGER], app[STORE], row["id"], wanted)
    updated = bodies.found(changed, "No such member.")
    await key_grants.followed(request, fitted)
    await audited.record(
        request,
        "member.role",
        "member",
        row["id"],
        row["account_id"],
        member_json(row),
        member_json(updated),
    )
    return updated


async def remove_for(request: web.Request, who: Principal, member_id: str) -> Row:
    """Remove a member (an owner only by an owner, the only owner by nobody) and revoke
    the keys minted under them; their sessions end on their next request."""
    who.require(ORG_WRITE)
    row = await _member(request, who, member_id)
    _may(who, row["role"])
    app = request.config_dict
    await leave(app[MEMBERS], app[LEDGER], app[STORE], who.account_id, row["id"])
    await audited.record(
        request, "member.remove", "member", row["id"], row["account_id"], member_json(row), None
    )
    return row


async def list_members(request: web.Request) -> web.Response:
    rows = await members_of(request, require(request, ACCOUNT_READ))
    return web.json_response({"object": "list", "data": [member_json(r) for r in rows]})


async def invite(request: web.Request) -> web.Response:
    who = require(request, ORG_WRITE)
    row = await invite_for(request, who, parse_json(await request.read()))
    return web.json_response(member_json(row), status=201)


async def set_role(request: web.Request) -> web.Response:
    who = require(request, ORG_WRITE)
    role = parse_json(await request.read()).get("role", "")
    row = await set_role_for(request, who, request.match_info["member_id"], role)
    return web.json_response(member_json(row))


async def remove(request: web.Request) -> web.Response:
    who = require(request, ORG_WRITE)
    row = await remove_for(request, who, request.match_info["member_id"])
    return web.json_response({"id": row["id"], "deleted": True})


def add_account_routes(account: web.Application) -> None:
    declare(
        account.router,
        Route("GET", "/members", list_members, authority.ACCOUNT_READ, doc=org_doc.list_members),
        Route(
            "POST",
            "/members",
            invite,
            authority.ORG_WRITE,
            audits("member.invite"),
            doc=org_doc.invite,
        ),
        Route(
            "PUT",
            "/members/{member_id}/role",
            set_role,
            authority.ORG_WRITE,
            audits("member.role"),
            doc=org_doc.set_role,
        ),
        Route(
            "DELETE",
            "/members/{member_id}",
            remove,
            authority.ORG_WRITE,
            audits("member.remove"),
            doc=org_doc.remove_member,
        ),
    )
