"""OpenID Connect as a relying party: the authorization code flow with PKCE (RFC 7636, S256)
and a nonce, against an issuer found by discovery. The ID token is checked by the same
verifier as user tokens (issuer, audience = our client id, lifetime, signature from the
issuer's JWKS), then its nonce against the one this sign-in sent."""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlencode

import aiohttp
import orjson

from gateway.config.egress_rules import EgressPolicy
from gateway.config.settings import JwtSettings, SigninSettings
from gateway.errors import IdentityProviderUnavailable, SigninFailed
from gateway.outbound.egress import egress_session
from gateway.outbound.sign_in.jwks import JwksCache
from gateway.outbound.sign_in.jwt_auth import InvalidToken, JwtVerifier, RevocationCheck
from gateway.scrubbing import kept

log = logging.getLogger("meterway.signin")

TIMEOUT_S = 10.0
MAX_DOCUMENT_BYTES = 256 * 1024
ID_TOKEN_ALGORITHMS = ("RS256", "ES256")


def _random() -> str:
    return secrets.token_urlsafe(32)


def challenge_of(verifier: str) -> str:
    """The S256 code challenge: base64url(SHA-256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def basic_auth(client_id: str, secret: str) -> str:
    """client_secret_basic (RFC 6749 2.3.1): each part form-encoded, then Basic."""
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


@dataclass(frozen=True, slots=True)
class Attempt:
    """One sign-in's secrets: `state` names it on the way back, `nonce` binds the ID token
    to it, `verifier` proves the code is redeemed by whoever asked for it."""

    state: str
    nonce: str
    verifier: str

    @classmethod
    def new(cls) -> Attempt:
        return cls(_random(), _random(), _random())


@dataclass(frozen=True, slots=True)
class Identity:
    issuer: str
    subject: str
    email: str  # lower-cased; empty when the provider gave none
    email_verified: bool


@dataclass(frozen=True, slots=True)
class _Endpoints:
    authorization: str
    token: str
    userinfo: str | None


class OidcClient:
    """The issuer's endpoints are discovered on first use (a down identity provider does not
    stop the boot) and kept; its keys live in a `JwksCache` like the user tokens'."""

    def __init__(
        self,
        settings: SigninSettings,
        redirect_uri: str,
        revocations: RevocationCheck,
        egress: EgressPolicy,
    ) -> None:
        self.settings = settings
        self.egress = egress
        self.redirect_uri = redirect_uri
        self._revocations = revocations
        self._session: aiohttp.ClientSession | None = None
        self._endpoints: _Endpoints | None = None
        self._verifier: JwtVerifier | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
            self._session = egress_session(self.egress, timeout=timeout)
        return self._session

    async def _json(self, method: str, url: str, **kw: Any) -> dict[str, Any]:
        try:
            async with self._http().request(method, url, allow_redirects=False, **kw) as resp:
                body = await resp.content.read(MAX_DOCUMENT_BYTES + 1)
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            # The cause (a host, a port, an errno) is the operator's, never the answer's.
            log.warning("identity provider unreachable: %s %s: %r", method, url, exc)
            raise IdentityProviderUnavailable("The identity provider is unreachable.") from exc
        try:
            document = orjson.loads(body) if len(body) <= MAX_DOCUMENT_BYTES else None
        except orjson.JSONDecodeError:
            document = None
        if not isinstance(document, dict):
            raise IdentityProviderUnavailable(f"The identity provider answered {status}.")
        if status >= 400:
            why = document.get("error_description") or document.get("error") or status
            said = kept(str(why), [self.settings.oidc_client_secret])
            raise SigninFailed(f"The identity provider refused the sign-in: {said}.")
        return document

    async def _discover(self) -> tuple[_Endpoints, JwtVerifier]:
        if self._endpoints is None or self._verifier is None:
            issuer = self.settings.oidc_issuer
            doc = await self._json("GET", f"{issuer}/.well-known/openid-configuration")
            try:
                endpoints = _Endpoints(
                    doc["authorization_endpoint"],
                    doc["token_endpoint"],
                    doc.get("userinfo_endpoint"),
                )
                jwks_uri = str(doc["jwks_uri"])
            except KeyError as exc:
                raise IdentityProviderUnavailable(f"The issuer's discovery lacks {exc}.") from None
            if doc.get("issuer") != issuer:
                raise IdentityProviderUnavailable("The issuer's discovery names another issuer.")

            async def fetch_keys() -> dict[str, Any]:
                return await self._json("GET", jwks_uri)

            jwt_settings = JwtSettings(
                audience=self.settings.oidc_client_id,
                issuer=issuer,
                algorithms=ID_TOKEN_ALGORITHMS,
                jwks_url=jwks_uri,
            )
            self._verifier = JwtVerifier(jwt_settings, JwksCache(fetch_keys), self._revocations)
            self._endpoints = endpoints
        return self._endpoints, self._verifier

    async def authorization_url(self, attempt: Attempt) -> str:
        endpoints, _ = await self._discover()
        query = {
            "response_type": "code",
            "client_id": self.settings.oidc_client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.settings.oidc_scopes,
            "state": attempt.state,
            "nonce": attempt.nonce,
            "code_challenge": challenge_of(attempt.verifier),
            "code_challenge_method": "S256",
        }
        joiner = "&" if "?" in endpoints.authorization else "?"
        return endpoints.authorization + joiner + urlencode(query)

    async def identity(self, code: str, attempt: Attempt) -> Identity:
        """Redeem the code (client_secret_basic when a secret is set) and check the ID token."""
        endpoints, verifier = await self._discover()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": attempt.verifier,
        }
        headers = {}
        if self.settings.oidc_client_secret:
            headers["Authorization"] = basic_auth(
                self.settings.oidc_client_id, self.settings.oidc_client_secret
            )
        else:
            form["client_id"] = self.settings.oidc_client_id
        answer = await self._json("POST", endpoints.token, data=form, headers=headers)
        id_token = answer.get("id_token")
        if not isinstance(id_token, str):
            raise SigninFailed("The identity provider returned no ID token.")
        try:
            token = await verifier.verify(id_token)
        except InvalidToken as exc:
            raise SigninFailed(f"The ID token was refused: {exc.message}") from exc
        if token.claims.get("nonce") != attempt.nonce:
            raise SigninFailed("The ID token was issued for another sign-in (nonce).")
        claims = token.claims
        access = answer.get("access_token")
        if "email" not in claims and endpoints.userinfo and isinstance(access, str):
            claims = await self._userinfo(endpoints.userinfo, access, token.subject)
        email = claims.get("email")
        return Identity(
            issuer=self.settings.oidc_issuer,
            subject=token.subject,
            email=email.lower() if isinstance(email, str) else "",
            email_verified=claims.get("email_verified") is True,
        )

    async def _userinfo(self, url: str, access_token: str, subject: str) -> dict[str, Any]:
        """Providers that keep the ID token small give the e-mail here; the answer counts
        only for the ID token's own subject (OIDC Core 5.3.2)."""
        headers = {"Authorization": f"Bearer {access_token}"}
        claims = await self._json("GET", url, headers=headers)
        if claims.get("sub") != subject:
            raise SigninFailed("The identity provider's user info names another user.")
        return claims

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
