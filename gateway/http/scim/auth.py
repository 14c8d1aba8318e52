"""Who calls /scim/v2: an organization's SCIM token, and nothing else (an API key, a
person's token, the operator's key: 401). The token reaches only its own organization's
users and groups; another's are answered 404, as if absent. Each request reads the token
again, so a rotated token stops working at once on every gateway process."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from billing.authority import Actor, Decision, may
from gateway.errors import InvalidApiKey
from gateway.http.appkeys import DOMAIN_CLAIMS, LEDGER, MEMBERS, SCIM, SETTINGS, STORE, TEAMS
from gateway.http.audited import ACTOR
from gateway.http.routing import action_of
from gateway.services import audit
from gateway.services.auth import presented_key
from gateway.services.members.scim.placement import Directory
from gateway.services.members.scim.tokens import account_of

ACCOUNT = web.RequestKey("scim_account", str)


@web.middleware
async def scim_auth(request: web.Request, handler: Any) -> web.StreamResponse:
    action = action_of(request)
    account_id = await account_of(request.config_dict[SCIM], presented_key(request))
    if account_id is None or may(Actor("scim", account_id), action) is not Decision.ALLOW:
        raise InvalidApiKey(
            "/scim/v2 takes the organization's SCIM token: 'Authorization: Bearer mwscim-...'."
        )
    request[ACCOUNT] = account_id
    request[ACTOR] = audit.Actor("directory", account_id, "scim token")
    response: web.StreamResponse = await handler(request)
    return response


def directory(request: web.Request) -> Directory:
    app = request.config_dict
    return Directory(
        app[SCIM],
        app[MEMBERS],
        app[LEDGER],
        app[STORE],
        app[TEAMS],
        app[SETTINGS].scim_group_roles,
        app[DOMAIN_CLAIMS],
    )


def base_url(request: web.Request) -> str:
    """Where this organization's resources live, as `meta.location` and `$ref` name them."""
    public = request.config_dict[SETTINGS].public_url.rstrip("/")
    return f"{public or request.url.origin()}/scim/v2"
