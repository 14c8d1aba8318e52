"""An MCP session id bound to the key that opened it, with no state: the client is handed
`<upstream id>.<mac>`, the mac an HMAC of the key's id and the upstream id, and every later
request's id is checked against the key presenting it. Another key (another account) that
learns the id cannot use the session; the upstream sees only its own id."""

from __future__ import annotations

import hashlib
import hmac

MAC_CHARS = 32


def session_secret(admin_api_key: str) -> bytes:
    """A secret of the gateway's own (ADMIN_API_KEY's), kept apart from it by hashing."""
    return hashlib.sha256(b"meterway mcp session|" + admin_api_key.encode()).digest()


def _mac(secret: bytes, key_id: str, upstream_id: str) -> str:
    text = f"{key_id}|{upstream_id}".encode()
    return hmac.new(secret, text, hashlib.sha256).hexdigest()[:MAC_CHARS]


def bind(secret: bytes, key_id: str, upstream_id: str) -> str:
    return f"{upstream_id}.{_mac(secret, key_id, upstream_id)}"


def unbind(secret: bytes, key_id: str, client_id: str) -> str | None:
    """The upstream id, if `client_id` was handed to this key; else None."""
    upstream_id, _, mac = client_id.rpartition(".")
    if not upstream_id or not hmac.compare_digest(mac, _mac(secret, key_id, upstream_id)):
        return None
    return upstream_id
