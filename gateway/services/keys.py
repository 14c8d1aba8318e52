"""Key life cycle beyond issuing: bounded issuing, rotation with a grace period, revocation.

Shared by the operator API and the account API; PostgreSQL first (the record of truth), then
Redis (what the proxy reads), as for every write.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from billing.grants import Grant, check_within
from billing.quotas import Quota, parse_quotas
from gateway.services.provisioning import IssuedKey, KeySpec, issue_key
from gateway.stores.ports import DirectoryPort, HotStorePort, LedgerPort
from gateway.stores.records import Row
from gateway.stores.redis.keys import shard_of


def _ms(when: datetime | None) -> int | None:
    return None if when is None else int(when.timestamp() * 1000)


def grant_of_key(row: Row) -> Grant:
    """What an API key holds, from its PostgreSQL row."""
    return Grant(
        frozenset(row["scopes"]),
        frozenset(row["models"]),
        tuple(parse_quotas(json.loads(row["quotas"]))),
        _ms(row["expires_at"]),
        frozenset(row["providers"]),
    )


def grant_of_spec(spec: KeySpec) -> Grant:
    return Grant(
        frozenset(spec.scopes),
        frozenset(spec.models),
        tuple(spec.quotas),
        _ms(spec.expires_at),
        frozenset(spec.providers),
    )


def spec_of_key(row: Row) -> KeySpec:
    return KeySpec(
        row["name"],
        tuple(row["scopes"]),
        tuple(row["models"]),
        tuple(parse_quotas(json.loads(row["quotas"]))),
        row["on_insufficient"],
        row["expires_at"],
        tuple(row["providers"]),
    )


async def issue_key_within(
    ledger: LedgerPort, store: HotStorePort, account_id: str, parent: Grant, spec: KeySpec
) -> IssuedKey:
    """Issue a key no wider than `parent` (raises billing.grants.GrantTooWide)."""
    check_within(parent, grant_of_spec(spec))
    return await issue_key(ledger, store, account_id, spec)


async def revoke_key(ledger: LedgerPort, store: HotStorePort, row: Row) -> Row | None:
    revoked = await ledger.revoke_key(row["id"])
    await store.revoke_key(shard_of(row["account_id"]), row["id"])
    return revoked


async def rotate_key(
    ledger: LedgerPort, store: HotStorePort, directory: DirectoryPort, row: Row, grace_s: int
) -> IssuedKey:
    """A new secret with the same grant; the old one keeps working for `grace_s` seconds.

    The grace deadline is taken on the Redis clock the reserve script checks expiry against.
    """
    issued = await issue_key(ledger, store, row["account_id"], spec_of_key(row))
    await directory.mark_rotated(issued.key_id, row["id"])
    until_ms = await store.now_ms() + grace_s * 1000
    current = _ms(row["expires_at"])
    if current is not None:
        until_ms = min(until_ms, current)
    await directory.set_key_expiry(row["id"], datetime.fromtimestamp(until_ms / 1000, UTC))
    await store.set_key_expiry(shard_of(row["account_id"]), row["id"], max(until_ms, 1))
    return issued


async def set_key_quotas(
    ledger: LedgerPort, store: HotStorePort, row: Row, quotas: Sequence[Quota]
) -> Row | None:
    """New limits for a key, live on the next request (the operator and account APIs)."""
    updated = await ledger.set_key_quotas(row["id"], quotas)
    await store.set_key_quotas(shard_of(row["account_id"]), row["id"], quotas)
    return updated
