"""The operator's key rotation: a new secret for any account's key, the old one working for
a grace period. The same function as the account API's rotation (`rotate_for`), as the
operator: no grant of the caller's to fit within, the account's own key is the whole grant.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from billing import authority
from gateway.errors import NotFound
from gateway.http import bodies
from gateway.http.appkeys import DIRECTORY, SETTINGS
from gateway.http.fields import MAX_GRACE_S
from gateway.http.openapi.paths import account as account_doc
from gateway.http.principal import Principal
from gateway.http.routing import Route, audits, declare
from gateway.http.shared.account_keys import rotate_for
from gateway.llm.reading.calls import parse_json
from gateway.stores.records import Row


def as_operator(account_id: str) -> Principal:
    """The operator acting on an account's key: no key of its own, so nothing to fit within."""
    return Principal(account_id, "user", frozenset())


async def rotate_as_operator(request: web.Request, row: Row, grace: int) -> dict[str, Any]:
    """Rotate `row` (the API and the Operators pages); the new key with its secret, once."""
    return await rotate_for(request, as_operator(row["account_id"]), row, grace)


async def rotate(request: web.Request) -> web.Response:
    row = await request.config_dict[DIRECTORY].key_with_use(request.match_info["key_id"])
    if row is None:
        raise NotFound("No such key.")
    raw = await request.read()
    body = parse_json(raw) if raw.strip() else {}
    default = request.config_dict[SETTINGS].key_rotation_grace_s
    grace = bodies.int_field(body, "grace_seconds", default, MAX_GRACE_S)
    return web.json_response(await rotate_as_operator(request, row, grace), status=201)


def add_routes(admin: web.Application) -> None:
    declare(
        admin.router,
        Route(
            "POST",
            "/keys/{key_id}/rotate",
            rotate,
            authority.OPERATOR,
            audits("key.rotate"),
            doc=account_doc.ADMIN_ROTATE_KEY,
        ),
    )
