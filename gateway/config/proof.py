"""The ledger's proof: how often entries are sealed into checkpoints, the Ed25519 key that
signs them and the retired keys that still verify older ones (docs/guides/ledger.md,
"Proving the ledger"). Read once at start-up; `settings.proof`.

LEDGER_SIGNING_KEY is the private key's 32-byte seed, base64url (`meterway ledger
signing-key` makes one); unset, checkpoints are chained but unsigned. LEDGER_VERIFY_KEYS
lists retired public keys (base64url, comma-separated): rotating is moving the old key's
public half there and setting a new LEDGER_SIGNING_KEY.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.config import values as v
from gateway.config.values import ConfigError

Get = Callable[..., object]
KEY_BYTES = 32


@dataclass(frozen=True)
class ProofSettings:
    signing_seed: bytes = field(default=b"", repr=False)  # b"": checkpoints unsigned
    retired_keys: tuple[bytes, ...] = ()  # public keys that verify older checkpoints
    seal_every_s: float = 10.0
    seal_rows: int = 50_000  # the most entries one checkpoint seals
    verify_every_s: float = 86400.0  # the scheduled check of every checkpoint; 0 is off


def key_bytes(name: str, raw: str) -> bytes:
    """32 bytes from base64url (padding optional); anything else fails the boot by name."""
    text = raw.strip()
    try:
        out = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(f"{name} must be base64url, got an unreadable value") from exc
    if len(out) != KEY_BYTES or not text.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(f"{name} must be {KEY_BYTES} bytes in base64url, got {len(out)}")
    return out


def proof_settings(get: Get) -> ProofSettings:
    seed = str(get("LEDGER_SIGNING_KEY", "") or "")
    retired = str(get("LEDGER_VERIFY_KEYS", "") or "")
    return ProofSettings(
        signing_seed=key_bytes("LEDGER_SIGNING_KEY", seed) if seed.strip() else b"",
        retired_keys=tuple(
            key_bytes("LEDGER_VERIFY_KEYS", k) for k in retired.split(",") if k.strip()
        ),
        seal_every_s=v.number("LEDGER_SEAL_EVERY_S", get("LEDGER_SEAL_EVERY_S", 10), 0.05),
        seal_rows=v.whole("LEDGER_SEAL_ROWS", get("LEDGER_SEAL_ROWS", 50_000), 1),
        verify_every_s=v.number("LEDGER_VERIFY_EVERY_S", get("LEDGER_VERIFY_EVERY_S", 86400), 0),
    )
