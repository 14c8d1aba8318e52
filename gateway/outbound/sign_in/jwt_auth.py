"""Verifying user tokens (JWT): signature, algorithm, audience, issuer, lifetime, revocation.

The algorithm is checked against an explicit allow-list before anything else, and the key is
chosen by the algorithm's family: HS* only ever with JWT_SECRET, RS*/ES* only ever with a
public key from the JWKS. So `alg: none` and the HS256-signed-with-the-public-key trick both
fail before a signature is computed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

import jwt

from billing.names import one_of
from gateway.config.settings import JwtSettings
from gateway.errors import InvalidApiKey
from gateway.outbound.sign_in.jwks import JwksCache, UnknownSigningKey

REQUIRED_CLAIMS = ("exp", "iat", "sub")
KEY_FAMILY = {"RS": "RSA", "ES": "EC"}


class InvalidToken(InvalidApiKey):
    """A bearer JWT that failed verification; the message says which check, never the key."""

    code = "invalid_token"


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    subject: str
    jti: str | None
    issued_at: int
    expires_at: int
    scopes: frozenset[str]
    claims: dict[str, Any]

    def remaining_s(self, now: float | None = None) -> int:
        return max(1, int(self.expires_at - (time.time() if now is None else now)) + 1)


class RevocationCheck(Protocol):
    async def is_revoked(self, subject: str, jti: str | None, issued_at: int) -> bool: ...


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.startswith("ey")


def scopes_of(claims: dict[str, Any]) -> frozenset[str]:
    """The space-separated `scope` claim (RFC 8693); absent means no scope at all."""
    raw = claims.get("scope", "")
    return frozenset(raw.split()) if isinstance(raw, str) else frozenset()


class JwtVerifier:
    def __init__(
        self, settings: JwtSettings, jwks: JwksCache | None, revocations: RevocationCheck
    ) -> None:
        self.settings = settings
        self.jwks = jwks
        self._revocations = revocations

    async def _key(self, header: dict[str, Any]) -> Any:
        alg = header.get("alg")
        if not one_of(alg, self.settings.algorithms):
            raise InvalidToken(f"Token algorithm {alg!r} is not accepted.")
        if alg.startswith("HS"):
            return self.settings.secret
        kid = header.get("kid")
        if self.jwks is None or not isinstance(kid, str):
            raise InvalidToken("Token has no 'kid' naming a signing key.")
        try:
            key = await self.jwks.key(kid)
        except UnknownSigningKey as exc:
            raise InvalidToken("Token is signed by an unknown key.") from exc
        if key.key_type != KEY_FAMILY.get(alg[:2]):
            raise InvalidToken("Token algorithm does not match its signing key.")
        return key.key

    async def verify(self, token: str) -> VerifiedToken:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("Malformed bearer token.") from exc
        key = await self._key(header)
        claims = self._decode(token, key, header["alg"])
        iat, exp = int(claims["iat"]), int(claims["exp"])
        if exp - iat > self.settings.max_lifetime_s:
            raise InvalidToken("Token lifetime exceeds JWT_MAX_LIFETIME_S.")
        subject, jti = str(claims["sub"]), claims.get("jti")
        jti = jti if isinstance(jti, str) and jti else None
        if await self._revocations.is_revoked(subject, jti, iat):
            raise InvalidToken("Token has been revoked.")
        return VerifiedToken(subject, jti, iat, exp, scopes_of(claims), claims)

    def _decode(self, token: str, key: Any, alg: str) -> dict[str, Any]:
        s = self.settings
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=s.audience,
                issuer=s.issuer,
                leeway=s.leeway_s,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("Token has expired.") from exc
        except jwt.InvalidAudienceError as exc:
            raise InvalidToken("Token audience is not this gateway.") from exc
        except jwt.InvalidIssuerError as exc:
            raise InvalidToken("Token issuer is not trusted.") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"Token is invalid: {exc}.") from exc
        return claims
