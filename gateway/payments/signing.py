"""Signed events of the local provider: Stripe's scheme (t=<unix>,v1=<hmac-sha256>).

Only the local provider uses this; Stripe's own signatures are checked by the official SDK.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from typing import Any

from gateway.services.money.payment.port import SignatureInvalid

TOLERANCE_S = 300


def sign(doc: dict[str, Any], secret: str, at: int | None = None) -> tuple[bytes, str]:
    payload = json.dumps(doc, sort_keys=True).encode()
    stamp = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), b"%d." % stamp + payload, hashlib.sha256).hexdigest()
    return payload, f"t={stamp},v1={mac}"


def verify_signature(payload: bytes, header: str, secrets: Sequence[str]) -> dict[str, Any]:
    """The event document, if one of `secrets` signed it within the tolerance."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        stamp = int(parts.get("t", ""))
    except ValueError as exc:
        raise SignatureInvalid("no timestamp") from exc
    if abs(time.time() - stamp) > TOLERANCE_S:
        raise SignatureInvalid("timestamp outside the tolerance")
    signed = b"%d." % stamp + payload
    for secret in secrets:
        mac = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        if hmac.compare_digest(mac, parts.get("v1", "")):
            doc: dict[str, Any] = json.loads(payload)
            return doc
    raise SignatureInvalid("no matching signature")
