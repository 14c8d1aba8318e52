"""Meterway's Ed25519 signing keys: the one that signs now and the retired ones that still
verify what they signed, each named by its RFC 7638 JWK thumbprint (`kid`), and published
together as a JWKS document (GET /.well-known/meterway-keys.json) so anyone can check a
signature offline."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.config.proof import ProofSettings


class UnverifiedReceipt(ValueError):
    """A signed document that does not verify against the published keys, and why."""


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_jwk(public: bytes) -> dict[str, str]:
    """An Ed25519 public key as a JWK (RFC 8037), with its thumbprint as `kid`."""
    x = b64url(public)
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"))
    kid = b64url(hashlib.sha256(canonical.encode()).digest())
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "use": "sig", "alg": "EdDSA"}


def new_seed() -> str:
    """A fresh private key's seed, base64url: what LEDGER_SIGNING_KEY takes."""
    raw = Ed25519PrivateKey.generate().private_bytes_raw()
    return b64url(raw)


def read_with_jwks(document: dict[str, Any], token: str, typ: str) -> dict[str, Any]:
    """The claims of `token` checked against a published JWKS document's Ed25519 keys
    alone: what a customer holding only the public keys can do."""
    publics = tuple(
        unb64url(k["x"])
        for k in document.get("keys", [])
        if isinstance(k, dict) and k.get("kty") == "OKP" and k.get("crv") == "Ed25519"
    )
    return SigningKeys(ProofSettings(retired_keys=publics)).read_jws(token, typ)


class SigningKeys:
    def __init__(self, settings: ProofSettings) -> None:
        self._signer = (
            Ed25519PrivateKey.from_private_bytes(settings.signing_seed)
            if settings.signing_seed
            else None
        )
        publics = list(settings.retired_keys)
        if self._signer is not None:
            publics.insert(
                0, self._signer.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            )
        self._jwks = [public_jwk(p) for p in publics]
        self._verifiers = {
            jwk["kid"]: Ed25519PublicKey.from_public_bytes(p)
            for jwk, p in zip(self._jwks, publics, strict=True)
        }

    def public_key(self) -> bytes:
        """The signing key's public half (raw 32 bytes); ValueError with no signing key."""
        if self._signer is None:
            raise ValueError("no signing key is set")
        return self._signer.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def signs(self) -> bool:
        return self._signer is not None

    @property
    def current_kid(self) -> str | None:
        return self._jwks[0]["kid"] if self._signer is not None else None

    def sign(self, data: bytes) -> tuple[str, str] | None:
        """(kid, base64url signature) of `data`; None when no signing key is set."""
        if self._signer is None or self.current_kid is None:
            return None
        return self.current_kid, b64url(self._signer.sign(data))

    def verify(self, kid: str, data: bytes, signature: str) -> bool | None:
        """True or False; None when no key here has this kid (it cannot be checked)."""
        key = self._verifiers.get(kid)
        if key is None:
            return None
        try:
            key.verify(unb64url(signature), data)
        except (InvalidSignature, ValueError):
            return False
        return True

    def jwks(self) -> dict[str, Any]:
        return {"keys": list(self._jwks)}

    def sign_jws(self, claims: dict[str, Any], typ: str) -> str | None:
        """`claims` as a compact JWS (RFC 7515, EdDSA), `kid` and `typ` in its header; None
        when no signing key is set."""
        if self._signer is None:
            return None
        headers = {"kid": self.current_kid, "typ": typ}
        return jwt.encode(claims, self._signer, algorithm="EdDSA", headers=headers)

    def read_jws(self, token: str, typ: str) -> dict[str, Any]:
        """The claims of a JWS this process's keys signed; UnverifiedReceipt naming why not."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise UnverifiedReceipt(f"not a JWS: {exc}") from exc
        key = self._verifiers.get(str(header.get("kid")))
        if key is None:
            raise UnverifiedReceipt(f"signed by key {header.get('kid')!r}, which is not published")
        if header.get("typ") != typ:
            raise UnverifiedReceipt(f"not a {typ} (typ {header.get('typ')!r})")
        try:
            return dict(jwt.decode(token, key, algorithms=["EdDSA"], options={"verify_iat": False}))
        except jwt.PyJWTError as exc:
            raise UnverifiedReceipt(f"the signature does not verify: {exc}") from exc
