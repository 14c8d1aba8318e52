"""Operator routes for running accounts for real: search, external ids, keys, usage reports,
and signing a user out everywhere. Mounted on the admin sub-app (and its auth) by admin.py.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from billing import authority
from gateway.errors import Conflict, NotFound
from gateway.http import audited, bodies, key_grants
from gateway.http.appkeys import DIRECTORY, LEDGER, MEMBERS, REVOCATIONS, STORE
from gateway.http.fields import MAX_SEARCH
from gateway.http.openapi.paths import account as account_doc
from gateway.http.openapi.paths import organization as org_doc
from gateway.http.people.membership import add_member, member_json, role_field
from gateway.http.routing import Route, audits, declare
from gateway.http.serialize import account_json, key_use_json
from gateway.http.shared.usage.reports import query_text, usage_response
from gateway.http.whole import parse_whole
from gateway.llm.reading.calls import parse_json
from gateway.services.members import joining
from gateway.stores.errors import DuplicateExternalId
from gateway.stores.records import Row


async def apply_external_id(request: web.Request, account_id: str, body: dict[str, Any]) -> None:
    """Set `external_id` (the identity provider's `sub`) when the body carries the field."""
    if "external_id" not in body:
        return
    value = body["external_id"]
    if value is not None:
        value = bodies.text_field(body, "external_id")
    try:
        await request.config_dict[DIRECTORY].set_external_id(account_id, value)
    except DuplicateExternalId as exc:
        raise Conflict(
            "Another account already has this external_id.", param="external_id"
        ) from exc


async def refuse_taken_external_id(request: web.Request, body: dict[str, Any]) -> None:
    """Before creating an account: 409 rather than an account created without its id."""
    value = body.get("external_id")
    if isinstance(value, str) and await request.config_dict[DIRECTORY].account_by_external_id(
        value
    ):
        raise Conflict("Another account already has this external_id.", param="external_id")


async def _account_id(request: web.Request) -> str:
    account_id = request.match_info["account_id"]
    if await request.config_dict[LEDGER].get_account(account_id) is None:
        raise NotFound("No such account.")
    return account_id


async def search_accounts(request: web.Request) -> web.Response:
    q = request.query
    limit = min(parse_whole(q.get("limit", "50"), "limit", minimum=1), MAX_SEARCH)
    rows = await request.config_dict[DIRECTORY].search_accounts(
        query=query_text(request, "q") or None,
        plan=query_text(request, "plan") or None,
        after=query_text(request, "after"),
        limit=limit + 1,
    )
    page = rows[:limit]
    return web.json_response(
        {
            "object": "list",
            "data": [account_json(r, None) for r in page],
            "has_more": len(rows) > limit,
            "next_after": page[-1]["id"] if len(rows) > limit else None,
        }
    )


async def patch_account(request: web.Request) -> web.Response:
    account_id = await _account_id(request)
    body = parse_json(await request.read())
    ledger = request.config_dict[LEDGER]
    before = bodies.found(await ledger.get_account(account_id), "No such account.")
    await apply_external_id(request, account_id, body)
    row = bodies.found(await ledger.get_account(account_id), "No such account.")
    was, now = ({"external_id": r.get("external_id")} for r in (before, row))
    await audited.record(
        request, "account.external_id", "account", account_id, account_id, was, now
    )
    return web.json_response(account_json(row, None))


async def account_keys(request: web.Request) -> web.Response:
    account_id = await _account_id(request)
    revoked = request.query.get("include_revoked", "false").lower() == "true"
    rows = await request.config_dict[DIRECTORY].keys_of(account_id, include_revoked=revoked)
    return web.json_response({"object": "list", "data": [key_use_json(r) for r in rows]})


async def usage_report(request: web.Request) -> web.Response:
    return await usage_response(request, await _account_id(request))


async def revoke_user_tokens(request: web.Request) -> web.Response:
    subject = request.match_info["subject"]
    cutoff_ms = await request.config_dict[REVOCATIONS].revoke_subject(subject)
    await audited.record(
        request, "user.tokens_revoke", "user", subject, None, None, {"revoked_before_ms": cutoff_ms}
    )
    return web.json_response(
        {"object": "token_revocation", "subject": subject, "revoked_before_ms": cutoff_ms}
    )


async def list_members(request: web.Request) -> web.Response:
    rows = await request.config_dict[MEMBERS].of_account(await _account_id(request))
    return web.json_response({"object": "list", "data": [member_json(r) for r in rows]})


async def invite_member(request: web.Request) -> web.Response:
    """The operator invites the organization's people: owners unless a role is given (the
    role members had before roles existed)."""
    account_id = await _account_id(request)
    row = await add_member(request, account_id, parse_json(await request.read()), "owner")
    return web.json_response(member_json(row), status=201)


async def member_role_for(request: web.Request, account_id: str, member_id: str, role: str) -> Row:
    """Change a member's role as the operator (the API and the Operators pages); audited."""
    members = request.config_dict[MEMBERS]
    row = await members.get(member_id)
    if row is None or row["account_id"] != account_id:
        raise NotFound("No such member.")
    app = request.config_dict
    changed, fitted = await joining.narrow(
        members, app[LEDGER], app[STORE], row["id"], role, operator=True
    )
    updated = bodies.found(changed, "No such member.")
    await key_grants.followed(request, fitted)
    await audited.record(
        request,
        "member.role",
        "member",
        row["id"],
        account_id,
        member_json(row),
        member_json(updated),
    )
    return updated


async def member_remove_for(request: web.Request, account_id: str, member_id: str) -> Row:
    """Remove a member and revoke the keys minted under them; their sessions end on their
    next request (the API and the Operators pages); audited."""
    app = request.config_dict
    row = await app[MEMBERS].get(member_id)
    if row is None or not await joining.leave(
        app[MEMBERS], app[LEDGER], app[STORE], account_id, row["id"], operator=True
    ):
        raise NotFound("No such member.")
    await audited.record(
        request, "member.remove", "member", row["id"], account_id, member_json(row), None
    )
    return row


async def set_member_role(request: web.Request) -> web.Response:
    account_id = await _account_id(request)
    role = role_field(parse_json(await request.read()), "")
    row = await member_role_for(request, account_id, request.match_info["member_id"], role)
    return web.json_response(member_json(row))


async def remove_member(request: web.Request) -> web.Response:
    account_id = await _account_id(request)
    row = await member_remove_for(request, account_id, request.match_info["member_id"])
    return web.json_response({"id": row["id"], "deleted": True})


def add_routes(admin: web.Application) -> None:
    r = admin.router
    declare(
        r,
        Route(
            "GET", "/accounts", search_accounts, authority.OPERATOR, doc=account_doc.SEARCH_ACCOUNTS
        ),
        Route(
            "PATCH",
            "/accounts/{account_id}",
            patch_account,
            authority.OPERATOR,
            audits("account.external_id"),
            doc=account_doc.PATCH_ACCOUNT,
        ),
        Route(
            "GET",
            "/accounts/{account_id}/keys",
            account_keys,
            authority.OPERATOR,
            doc=account_doc.ACCOUNT_KEYS,
        ),
        Route(
            "GET",
            "/accounts/{account_id}/usage/report",
            usage_report,
            authority.OPERATOR,
            doc=account_doc.USAGE_REPORT,
        ),
        Route(
            "POST",
            "/users/{subject}/revoke-tokens",
            revoke_user_tokens,
            authority.OPERATOR,
            audits("user.tokens_revoke"),
            doc=account_doc.REVOKE_USER_TOKENS,
        ),
        Route(
            "GET",
            "/accounts/{account_id}/members",
            list_members,
            authority.OPERATOR,
            doc=org_doc.list_members,
        ),
        Route(
            "POST",
            "/accounts/{account_id}/members",
            invite_member,
            authority.OPERATOR,
            audits("member.invite"),
            doc=org_doc.invite,
        ),
        Route(
            "DELETE",
            "/accounts/{account_id}/members/{member_id}",
            remove_member,
            authority.OPERATOR,
            audits("member.remove"),
            doc=org_doc.remove_member,
        ),
        Route(
            "PUT",
            "/accounts/{account_id}/members/{member_id}/role",
            set_member_role,
            authority.OPERATOR,
            audits("member.role"),
            doc=org_doc.set_role,
        ),
    )
