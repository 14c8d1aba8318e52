"""The /v1/auth sub-app: a signed-in user revokes the token they present; signing up and
`meterway login` (auth_api.py)."""

from __future__ import annotations

from aiohttp import web

from billing import authority
from gateway.errors import InvalidRequest
from gateway.http import audited
from gateway.http.account import auth_api
from gateway.http.appkeys import REVOCATIONS
from gateway.http.openapi.paths import account as account_doc
from gateway.http.principal import principal, principal_middleware
from gateway.http.routing import Route, audits, declare


async def revoke(request: web.Request) -> web.Response:
    """Revoke the presented JWT by its jti, in Redis until the token would have expired."""
    who = principal(request)
    token = who.token
    if token is None:
        raise InvalidRequest("Only user tokens are revoked here; delete API keys instead.")
    if token.jti is None:
        raise InvalidRequest("This token has no 'jti' claim, so it cannot be revoked alone.")
    await request.config_dict[REVOCATIONS].revoke_token(token.jti, token.remaining_s())
    after = {"revoked": True, "subject": token.subject}
    await audited.record(request, "token.revoke", "token", token.jti, who.account_id, None, after)
    return web.json_response({"object": "token_revocation", "jti": token.jti, "revoked": True})


def add_routes(app: web.Application) -> None:
    auth = web.Application(middlewares=[principal_middleware])
    declare(
        auth.router,
        Route(
            "POST",
            "/revoke",
            revoke,
            authority.SELF,
            audits("token.revoke"),
            doc=account_doc.REVOKE,
        ),
    )
    auth_api.add_routes(auth)
    app.add_subapp("/v1/auth", auth)
