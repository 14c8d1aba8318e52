"""Minting an organization's SCIM token: its owner (on the account API, `scim:token`) or
the operator (any account). The token is shown once; minting again replaces it, and the
old one stops working at once."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from billing import authority
from billing.grants import Grant
from gateway.errors import NotFound
from gateway.http import audited
from gateway.http.appkeys import LEDGER, SCIM
from gateway.http.openapi.paths import scim as scim_doc
from gateway.http.principal import require
from gateway.http.routing import Route, audits, declare
from gateway.services.keys.mint import Creator, operator
from gateway.services.members.scim.tokens import issue
from gateway.stores.records import Row

SCIM_TOKEN = authority.SCIM_TOKEN.scope or ""


def token_json(row: Row, secret: str) -> dict[str, Any]:
    return {
        "id": row["id"],
        "object": "scim_token",
        "account_id": row["account_id"],
        "prefix": row["prefix"],
        "created_at": row["created_at"].isoformat(),
        "token": secret,
    }


async def minted(request: web.Request, creator: Creator) -> web.Response:
    row, secret = await issue(request.config_dict[SCIM], creator)
    said = {"prefix": row["prefix"], "id": row["id"]}
    await audited.record(
        request, "scim.token", "scim_token", row["id"], row["account_id"], None, said
    )
    return web.json_response(token_json(row, secret), status=201)


async def account_mint(request: web.Request) -> web.Response:
    who = require(request, SCIM_TOKEN)
    return await minted(
        request, Creator(who.account_id, Grant(who.scopes, frozenset()), who.scopes)
    )


async def admin_mint(request: web.Request) -> web.Response:
    account_id = request.match_info["account_id"]
    if await request.config_dict[LEDGER].get_account(account_id) is None:
        raise NotFound("No such account.")
    return await minted(request, operator(account_id))


def add_account_routes(account: web.Application) -> None:
    declare(
        account.router,
        Route(
            "POST",
            "/scim/token",
            account_mint,
            authority.SCIM_TOKEN,
            audits("scim.token"),
            doc=scim_doc.MINT,
        ),
    )


def add_admin_routes(admin: web.Application) -> None:
    declare(
        admin.router,
        Route(
            "POST",
            "/accounts/{account_id}/scim/token",
            admin_mint,
            authority.OPERATOR,
            audits("scim.token"),
            doc=scim_doc.ADMIN_MINT,
        ),
    )
