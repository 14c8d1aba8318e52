"""An organization's own members over the account API: owners and admins (`org:write`)
invite people by e-mail with a role, change roles and remove members; anyone who reads the
account sees who its members are. Only an owner makes owners, or changes or removes one
(billing/roles.py's `may_grant`)."""

from __future__ import annotations

from aiohttp import web

from billing.roles import may_grant
from gateway.appkeys import MEMBERS
from gateway.errors import NotFound, PermissionDenied
from gateway.http import bodies
from gateway.http.admin_directory import add_member, member_json, role_field
from gateway.http.principal import ACCOUNT_READ, ORG_WRITE, Principal, require
from gateway.llm.calls import parse_json
from gateway.stores.records import Row


def _granter(who: Principal) -> str:
    """A key or a token without a role acts as an owner: it holds org:write outright."""
    return who.role or "owner"


def _may(who: Principal, role: str) -> None:
    if not may_grant(_granter(who), role):
        raise PermissionDenied("Only an owner makes, changes or removes owners.", param="role")


async def _member(request: web.Request, who: Principal) -> Row:
    row = await request.config_dict[MEMBERS].get(request.match_info["member_id"])
    if row is None or row["account_id"] != who.account_id:
        raise NotFound("No such member.")
    return row


async def list_members(request: web.Request) -> web.Response:
    who = require(request, ACCOUNT_READ)
    rows = await request.config_dict[MEMBERS].of_account(who.account_id)
    return web.json_response({"object": "list", "data": [member_json(r) for r in rows]})


async def invite(request: web.Request) -> web.Response:
    who = require(request, ORG_WRITE)
    _may(who, role_field(parse_json(await request.read()), "member"))
    row = await add_member(who.account_id, request, "member")
    return web.json_response(member_json(row), status=201)


async def set_role(request: web.Request) -> web.Response:
    who = require(request, ORG_WRITE)
    row = await _member(request, who)
    role = role_field(parse_json(await request.read()), "")
    _may(who, row["role"])
    _may(who, role)
    updated = await request.config_dict[MEMBERS].set_role(row["id"], role)
    return web.json_response(member_json(bodies.found(updated, "No such member.")))


async def remove(request: web.Request) -> web.Response:
    who = require(request, ORG_WRITE)
    row = await _member(request, who)
    _may(who, row["role"])
    await request.config_dict[MEMBERS].remove(who.account_id, row["id"])
    return web.json_response({"id": row["id"], "deleted": True})


def add_account_routes(account: web.Application) -> None:
    account.router.add_get("/members", list_members)
    account.router.add_post("/members", invite)
    account.router.add_put("/members/{member_id}/role", set_role)
    account.router.add_delete("/members/{member_id}", remove)
