"""Pausing a key after a spend anomaly, and lifting the pause.

A pause travels as a revocation does: the key hash's state in the hot store (`st` = 'p'),
which reserve.lua reads on every request in the one round trip it already makes, so a
paused key is refused (403 key_paused) from the next request on, on every gateway process,
with no extra round trip. PostgreSQL keeps the pause (`key_pauses`) so `meterway rebuild`
writes it back. A revocation always wins: whichever of the two lands last in Redis, each
side checks the ledger after its write and puts a revoked key back to revoked.
"""

from __future__ import annotations

from gateway.stores.ports import HotStorePort
from gateway.stores.ports.hot import shard_of
from gateway.stores.ports.trust.anomalies import AnomaliesPort


async def pause(anomalies: AnomaliesPort, store: HotStorePort, key_id: str, account: str) -> None:
    """Refuse the key from the next request on (its pause is already in `key_pauses`)."""
    await store.set_key_paused(shard_of(account), key_id, True)
    await _revoked_stays_revoked(anomalies, store, key_id, account)


async def resume(anomalies: AnomaliesPort, store: HotStorePort, key_id: str, account: str) -> bool:
    """Lift a key's pause: served again from the next request on; False when it was not
    paused (nothing changes)."""
    if not await anomalies.resume(key_id):
        return False
    await store.set_key_paused(shard_of(account), key_id, False)
    await _revoked_stays_revoked(anomalies, store, key_id, account)
    return True


async def _revoked_stays_revoked(
    anomalies: AnomaliesPort, store: HotStorePort, key_id: str, account: str
) -> None:
    # A revocation commits in PostgreSQL before it writes Redis: read after our write, it
    # is either seen here or its own write lands after ours.
    if await anomalies.is_revoked(key_id):
        await store.revoke_key(shard_of(account), key_id)
