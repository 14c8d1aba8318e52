"""A fake identity provider for tests: real RS256/ES256 keys made here, a JWKS endpoint on a
local port that counts its fetches and can rotate, fail, or go away, and a token minter."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

AUDIENCE = "https://meterway.test"
ISSUER = "https://idp.test/"
HS_SECRET = "hs-secret-for-tests-0123456789abcdef"
# A gateway taking people's HS256 tokens from this issuer, their role in the `groups` claim.
ROLE_CLAIM_ENV = {
    "JWT_SECRET": HS_SECRET,
    "JWT_AUDIENCE": AUDIENCE,
    "JWT_ISSUER": ISSUER,
    "JWT_ROLE_CLAIM": "groups",
}


@dataclass
class SigningKey:
    kid: str
    alg: str
    private: Any

    def jwk(self) -> dict[str, Any]:
        algo = RSAAlgorithm if self.alg.startswith("RS") else ECAlgorithm
        doc: dict[str, Any] = algo.to_jwk(self.private.public_key(), as_dict=True)
        return {**doc, "kid": self.kid, "use": "sig", "alg": self.alg}


def rsa_key(kid: str | None = None) -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return SigningKey(kid or f"rsa-{secrets.token_hex(4)}", "RS256", private)


def ec_key(kid: str | None = None) -> SigningKey:
    return SigningKey(
        kid or f"ec-{secrets.token_hex(4)}", "ES256", ec.generate_private_key(ec.SECP256R1())
    )


def claims(sub: str, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "sub": sub,
        "aud": AUDIENCE,
        "iss": ISSUER,
        "iat": now,
        "exp": now + 600,
        "jti": secrets.token_hex(8),
        "scope": "account:read usage:read keys:write",
    }
    return {**base, **extra}


def sign(key: SigningKey, body: dict[str, Any], **headers: Any) -> str:
    return jwt.encode(body, key.private, algorithm=key.alg, headers={"kid": key.kid, **headers})


def sign_hs(body: dict[str, Any], secret: str = HS_SECRET) -> str:
    return jwt.encode(body, secret, algorithm="HS256")


@dataclass
class Jwks:
    """The published key set; `fetches` counts GETs, `down` makes the endpoint answer 503."""

    keys: list[SigningKey] = field(default_factory=list)
    fetches: int = 0
    down: bool = False
    url: str = ""

    def document(self) -> dict[str, Any]:
        return {"keys": [k.jwk() for k in self.keys]}

    def rotate(self, new: SigningKey, *, keep_old: bool = True) -> None:
        self.keys = [*self.keys, new] if keep_old else [new]


@asynccontextmanager
async def jwks_server(jwks: Jwks, host: str = "127.0.0.1") -> AsyncIterator[Jwks]:
    async def serve(request: web.Request) -> web.Response:
        jwks.fetches += 1
        if jwks.down:
            return web.Response(status=503, text="down")
        return web.json_response(jwks.document())

    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", serve)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    jwks.url = f"http://{host}:{port}/.well-known/jwks.json"
    try:
        yield jwks
    finally:
        await runner.cleanup()


class FakeClock:
    """A monotonic clock the test moves by hand, instead of sleeping 30 s."""

    def __init__(self) -> None:
        self.now = float(int(time.monotonic()) + 1)  # whole seconds: `+ 30` stays exact

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
