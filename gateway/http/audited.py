"""Who made a change and where from, read off the request, for the audit log.

Each surface's auth marks its caller: the operator API (`admin_auth`) and the dashboard's
session middleware put an `Actor` on the request; the account and billing APIs' principal
is read as one here. A change site then writes its record with one line:
`await audited.record(request, "key.revoke", "key", key_id, account_id, before, after)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from gateway.http.appkeys import AUDIT
from gateway.http.client_address import client_address
from gateway.http.middleware import REQUEST_ID
from gateway.http.principal import PRINCIPAL, Principal
from gateway.services import audit
from gateway.services.audit import Actor, AuditEvent, Origin

ACTOR = web.RequestKey("audit_actor", Actor)


def principal_actor(who: Principal, via: str) -> Actor:
    """A member by id, a key by id, a token without a member by its subject."""
    if who.member_id:
        return Actor("member", who.member_id, via)
    if who.key is not None:
        return Actor("key", who.key.key_id, via if via != "api key" else None)
    subject = who.token.subject if who.token is not None else who.account_id
    return Actor("user", subject, via)


def actor_of(request: web.Request) -> Actor:
    """The caller as the surface's auth marked it (or its principal: a key, or a token)."""
    marked: Actor | None = request.get(ACTOR)
    if marked is not None:
        return marked
    who = request.get(PRINCIPAL)
    if who is None:
        return Actor("system", "gateway")
    return principal_actor(who, "jwt" if who.token is not None else "api key")


def origin_of(request: web.Request) -> Origin:
    return Origin(request.get(REQUEST_ID), client_address(request))


async def record(
    request: web.Request,
    action: str,
    target_kind: str,
    target_id: str,
    account_id: str | None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    """Append the record of one change the request made (services/audit.py); nothing when
    `before` and `after` are both given and equal (a repeat that changed nothing)."""
    if before is not None and after is not None and dict(before) == dict(after):
        return
    event = AuditEvent(action, target_kind, target_id, account_id, before, after)
    await audit.record(request.config_dict[AUDIT], actor_of(request), event, origin_of(request))
