"""Who may operate Meterway: the ADMIN_API_KEY, or a user token carrying the `admin` scope.

The operator API (admin.py) and the dashboard's Operators pages both ask `verify_operator`,
so the dashboard never lets in an operator the API would refuse.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from aiohttp import web

from gateway.errors import InvalidApiKey, PermissionDenied
from gateway.http.appkeys import JWT, SETTINGS
from gateway.outbound.sign_in.jwt_auth import VerifiedToken, looks_like_jwt

ADMIN_SCOPE = "admin"
ADMIN_KEY = "admin key"  # the admin key's holder: one operator, on the API and the dashboard


@dataclass(frozen=True, slots=True)
class Operator:
    label: str  # "admin key" or the token's subject
    token: VerifiedToken | None = None


def is_admin_key(request: web.Request, raw: str) -> bool:
    expected = request.config_dict[SETTINGS].admin_api_key
    return raw.isascii() and hmac.compare_digest(raw.encode(), expected.encode())


async def verify_operator(request: web.Request, raw: str) -> Operator:
    """The operator behind `raw`; InvalidApiKey or PermissionDenied otherwise."""
    if is_admin_key(request, raw):
        return Operator(ADMIN_KEY)
    verifier = request.config_dict.get(JWT)
    if verifier is None or not looks_like_jwt(raw):
        raise InvalidApiKey("Admin API requires 'Authorization: Bearer $ADMIN_API_KEY'.")
    token = await verifier.verify(raw)
    if ADMIN_SCOPE not in token.scopes:
        raise PermissionDenied(f"This token lacks the '{ADMIN_SCOPE}' scope.")
    return Operator(token.subject, token)
