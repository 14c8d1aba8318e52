"""Service keys: the credentials other services use to charge meters through /v1/metering.

Like API keys, only the SHA-256 of a service key is stored; PostgreSQL holds the record of
truth and Redis the directory every gateway process resolves through. A resolved service is
cached per process for a few seconds, so revoking one takes effect within CACHE_TTL_S.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

from billing.grants import Grant
from gateway.services.auth import hash_key, new_id
from gateway.services.keys.mint import METERING, Creator, Right, operator, within
from gateway.stores.meter_records import ServiceRecord
from gateway.stores.ports import MeterHoldsPort, MeteringLedgerPort
from gateway.stores.records import Row

SERVICE_KEY_PREFIX = "mws-"
SERVICE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
CACHE_TTL_S = 5.0
# What a service key holds: no proxy scope, no model; it charges the meters it names.
SERVICE = Grant(frozenset({METERING}), frozenset())


@dataclass(frozen=True)
class IssuedService:
    row: Row
    secret: str


def record_of(row: Row) -> ServiceRecord:
    return ServiceRecord(row["id"], row["name"], tuple(row["meters"]))


async def issue_service(
    ledger: MeteringLedgerPort,
    holds: MeterHoldsPort,
    name: str,
    meters: Sequence[str],
    creator: Creator | None = None,
) -> IssuedService:
    """Mint (through the one mint: only the operator makes service keys), record by hash,
    publish; the secret is returned once and kept nowhere."""
    within(creator or operator(""), SERVICE, Right.OPERATOR)
    secret = SERVICE_KEY_PREFIX + secrets.token_urlsafe(32)
    digest = hash_key(secret)
    row = await ledger.create_service(
        new_id("svc"), name, digest, secret[: len(SERVICE_KEY_PREFIX) + 6], meters
    )
    await holds.put_service(digest, record_of(row))
    return IssuedService(row, secret)


async def revoke_service(
    ledger: MeteringLedgerPort, holds: MeterHoldsPort, service_id: str
) -> Row | None:
    row = await ledger.revoke_service(service_id)
    if row is not None:
        await holds.put_service(row["key_hash"], None)
    return row


class ServiceResolver:
    """Presented key + claimed name -> the service, or None; cached briefly per process."""

    def __init__(self, holds: MeterHoldsPort, ttl_s: float = CACHE_TTL_S) -> None:
        self._holds = holds
        self._ttl = ttl_s
        self._cache: dict[str, tuple[float, ServiceRecord | None]] = {}

    async def resolve(self, key: str, name: str) -> ServiceRecord | None:
        if not key.startswith(SERVICE_KEY_PREFIX):
            return None
        digest = hash_key(key)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is None or hit[0] < now:
            if len(self._cache) > 10_000:
                self._cache.clear()
            hit = (now + self._ttl, await self._holds.lookup_service(digest))
            self._cache[digest] = hit
        record = hit[1]
        return record if record is not None and record.name == name else None
