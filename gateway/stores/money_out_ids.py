"""The id of a money-out hold (stores/redis/holds/money_out.py): made from what the hold is for, so
a retry finds the hold its first attempt took; services name a hold by it before asking the
hot store."""

from __future__ import annotations

import hashlib

from gateway.stores.ports.hot import shard_of


def hold_id(account_id: str, kind: str, key: str) -> str:
    """The one id of the hold for an operation (its kind and idempotency key): a retry
    finds the hold its first attempt took."""
    digest = hashlib.blake2b(f"{kind}\0{account_id}\0{key}".encode(), digest_size=16)
    return f"out_{shard_of(account_id)}_{digest.hexdigest()}"
