"""Short-lived Realtime client secrets: what a browser connects with instead of a key.

A secret names the key that minted it (by the key's digest, as the key directory knows it),
the model it may open (or any the key may use) and when it expires, signed with HMAC-SHA256
under a key derived from ADMIN_API_KEY. It holds no authority of its own: a session opened
with it is the minting key's, resolved live, so its scopes, models, budgets, quotas and
revocation apply as to the key itself. Nothing is stored; a secret dies at its expiry (or
when ADMIN_API_KEY changes).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

import orjson

from gateway.errors import InvalidApiKey

PREFIX = "ek_mw_"
# How browsers send it: the WebSocket subprotocol OpenAI's SDKs send an API key as.
SUBPROTOCOL = "openai-insecure-api-key."
MAX_TTL_S = 7200


@dataclass(frozen=True, slots=True)
class ClientSecret:
    key_digest: str
    model: str  # "" any model the key may use
    expires_at_s: int


def _signing_key(admin_key: str) -> bytes:
    return hmac.new(admin_key.encode(), b"meterway realtime client secret", hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mint(secret: ClientSecret, admin_key: str) -> str:
    """The secret as text: base64url characters and one dot, a valid subprotocol token."""
    payload = _b64(orjson.dumps([secret.key_digest, secret.model, secret.expires_at_s]))
    mac = hmac.new(_signing_key(admin_key), payload.encode(), hashlib.sha256).digest()
    return f"{PREFIX}{payload}.{_b64(mac)}"


def read(text: str, admin_key: str, now_s: float) -> ClientSecret:
    """The secret `text` names, or InvalidApiKey: forged, altered, malformed or expired."""
    payload, _, mac = text.removeprefix(PREFIX).partition(".")
    expected = hmac.new(_signing_key(admin_key), payload.encode(), hashlib.sha256).digest()
    try:
        valid = text.startswith(PREFIX) and hmac.compare_digest(_unb64(mac), expected)
        fields = orjson.loads(_unb64(payload)) if valid else None
    except (ValueError, orjson.JSONDecodeError):
        fields = None
    if not isinstance(fields, list) or len(fields) != 3:
        raise InvalidApiKey("Incorrect Realtime client secret provided.")
    digest, model, expires = fields
    if not isinstance(expires, int) or expires <= now_s:
        raise InvalidApiKey("This Realtime client secret has expired; mint a new one.")
    return ClientSecret(str(digest), str(model), expires)


def offered(protocols: str) -> tuple[str | None, list[str]]:
    """The client secret among a `Sec-WebSocket-Protocol` header's offers, and the others."""
    secret, others = None, []
    for offer in (p.strip() for p in protocols.split(",")):
        if offer.startswith(SUBPROTOCOL):
            secret = offer.removeprefix(SUBPROTOCOL)
        elif offer:
            others.append(offer)
    return secret, others
