"""Meterway's Ed25519 signing keys: the one that signs now and the retired ones that still
verify what they signed, each named by its RFC 7638 JWK thumbprint (`kid`), and published
together as a JWKS document (GET /.well-known/meterway-keys.json) so anyone can check a
signature offline."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.config.proof import ProofSettings


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
