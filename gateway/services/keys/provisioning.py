"""Issuing API keys: the one place a key is minted, recorded and published.

PostgreSQL gets the hash (the record of truth), Redis gets the hot record and the directory
entry the proxy resolves keys through; the secret itself is returned once and kept nowhere.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from billing.money.quotas import Quota, parse_quotas
from gateway.services.auth import KEY_PREFIX, hash_key, mint_key, new_id
from gateway.stores.ports import HotStorePort, LedgerPort
from gateway.stores.ports.hot import shard_of
from gateway.stores.records import OPERATOR_MINTED, KeyRecord, Lineage, Row


@dataclass(frozen=True)
class KeySpec:
    name: str
    scopes: Sequence[str] = ()
    models: Sequence[str] = ()
    quotas: Sequence[Quota] = field(default_factory=tuple)
    on_insufficient: str | None = None
    expires_at: datetime | None = None
    providers: Sequence[str] = ()  # the only providers its calls may go to; () any


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    secret: str


async def issue_key(
    ledger: LedgerPort,
    store: HotStorePort,
    account_id: str,
    spec: KeySpec,
    lineage: Lineage = OPERATOR_MINTED,
) -> IssuedKey:
    """A new key recorded with its minter, owner and team (`lineage`); the caller publishes
    the team's quotas to it (services/keys/life_cycle.py) before handing the secret out."""
    secret, key_id = mint_key(), new_id("key")
    digest = hash_key(secret)
    await ledger.create_key(
        key_id=key_id,
        account_id=account_id,
        name=spec.name,
        key_hash=digest,
        key_prefix=secret[: len(KEY_PREFIX) + 6],
        scopes=spec.scopes,
        models=spec.models,
        quotas=spec.quotas,
        on_insufficient=spec.on_insufficient,
        expires_at=spec.expires_at,
        providers=spec.providers,
        lineage=lineage,
    )
    record = KeyRecord(
        key_id,
        account_id,
        shard_of(account_id),
        spec.name,
        tuple(spec.scopes),
        tuple(spec.models),
        spec.on_insufficient,
        tuple(spec.providers),
        lineage.ancestors,
    )
    expires_ms = int(spec.expires_at.timestamp() * 1000) if spec.expires_at else 0
    await store.put_key(record, digest, expires_at_ms=expires_ms, quotas=spec.quotas)
    return IssuedKey(key_id, secret)


def new_secret() -> tuple[str, str, str]:
    """A fresh secret, its hash and its shown prefix."""
    secret = mint_key()
    return secret, hash_key(secret), secret[: len(KEY_PREFIX) + 6]


async def publish_row(store: HotStorePort, row: Row, digest: str) -> None:
    """Put a key recorded in PostgreSQL (`row`, every column) where the proxy reads it: its
    limits, scopes and expiry; a pause or a revocation it carries stays (put_key)."""
    record = KeyRecord(
        row["id"],
        row["account_id"],
        shard_of(row["account_id"]),
        row["name"],
        tuple(row["scopes"]),
        tuple(row["models"]),
        row["on_insufficient"],
        tuple(row["providers"]),
        tuple(row.get("ancestors") or ()),
    )
    expires = row["expires_at"]
    expires_ms = int(expires.timestamp() * 1000) if expires else 0
    quotas = parse_quotas(json.loads(row["quotas"]))
    await store.put_key(record, digest, expires_at_ms=expires_ms, quotas=quotas)
