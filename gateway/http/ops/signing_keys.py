"""GET /.well-known/meterway-keys.json: the public halves of Meterway's Ed25519 signing keys,
the current one first, then the retired ones that still verify what they signed, as a JWKS
document (RFC 7517, keys per RFC 8037). Anyone may read it: a key's public half is what lets
a customer or an auditor check a signature without asking Meterway."""

from __future__ import annotations

from aiohttp import web

from billing import authority
from gateway.http.appkeys import SIGNING_KEYS
from gateway.http.openapi.paths import operator as ops_doc
from gateway.http.routing import Route, declare

PATH = "/.well-known/meterway-keys.json"


async def published_keys(request: web.Request) -> web.Response:
    headers = {"Cache-Control": "public, max-age=300"}
    return web.json_response(request.app[SIGNING_KEYS].jwks(), headers=headers)


def add_routes(app: web.Application) -> None:
    declare(app.router, Route("GET", PATH, published_keys, authority.PUBLIC, doc=ops_doc.KEYS))
