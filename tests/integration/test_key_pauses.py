"""A key's pause after a spend anomaly: the reserve script refuses it as `key_paused`,
`meterway rebuild` writes it back from PostgreSQL, lifting it serves the key again, and a
revoked key stays revoked whichever of pause, lift and revocation comes last. And the
detector's upkeep of its hourly sums."""

from __future__ import annotations

from datetime import UTC, datetime

from billing.money.admission import KeyRefused
from billing.trust.anomalies import FLOOR_REQUESTS, HOUR
from gateway.ops.rebuild import rebuild
from gateway.services.auth import new_id
from gateway.services.keys.life_cycle import revoke_key
from gateway.services.keys.provisioning import KeySpec, issue_key
from gateway.services.trust import key_pauses
from gateway.stores.connect import Stores
from gateway.stores.ports.hot import shard_of
from gateway.stores.records import KeyRecord
from gateway.workers.anomalies import KEEP, Detector
from tests.integration.test_rebuild_metering import PLANS
from tests.support.harness import REDIS_URL, drop_prefix


async def _paused_key(stores: Stores) -> tuple[str, str]:
    acct = new_id("acct")
    await stores.ledger.create_account(acct, acct, "pro", "prepaid")
    issued = await issue_key(stores.ledger, stores.store, acct, KeySpec("k"))
    now = datetime.now(UTC)
    flag = {
        "account_id": acct, "key_id": issued.key_id, "scope": "key",
        "scope_id": issued.key_id, "rule": "rate", "window_start": now, "window_end": now,
        "figures": {}, "request_ids": [], "summary": "test",
    }  # fmt: skip
    anomalies = stores.anomalies()
    await anomalies.set_opt_in(acct, "", True)
    row = await anomalies.record(flag, pause=True)
    assert row is not None and row["paused"] is True
    assert await anomalies.record(flag, pause=True) is None  # once per scope, rule and hour
    await key_pauses.pause(anomalies, stores.store, issued.key_id, acct)
    return acct, issued.key_id


async def _refusal(stores: Stores, acct: str, key_id: str) -> str | None:
    """What the reserve script says of the key (mode "key": the key and account only)."""
    record = KeyRecord(key_id, acct, shard_of(acct), "k", (), (), None, ())
    decision = await stores.store.reserve(
        new_id("req"), record, input_tokens=0, max_output_tokens=0, spend_micros=0, mode="key"
    )
    return decision.reason if isinstance(decision, KeyRefused) else None


async def test_a_pause_survives_a_rebuild_and_lifts(stores: Stores) -> None:
    acct, key_id = await _paused_key(stores)
    assert await _refusal(stores, acct, key_id) == "key_paused"
    await drop_prefix(REDIS_URL, stores.store.keys.prefix)  # Redis lost everything
    await rebuild(stores, PLANS)
    assert await _refusal(stores, acct, key_id) == "key_paused"
    assert await key_pauses.resume(stores.anomalies(), stores.store, key_id, acct) is True
    assert await _refusal(stores, acct, key_id) is None
    assert await key_pauses.resume(stores.anomalies(), stores.store, key_id, acct) is False


async def test_lifting_a_pause_never_revives_a_revoked_key(stores: Stores) -> None:
    acct, key_id = await _paused_key(stores)
    row = await stores.ledger.get_key(key_id)
    assert row is not None
    await revoke_key(stores.ledger, stores.store, row)
    assert await _refusal(stores, acct, key_id) == "key_revoked"
    assert await key_pauses.resume(stores.anomalies(), stores.store, key_id, acct) is True
    assert await _refusal(stores, acct, key_id) == "key_revoked"
    # A pause landing after the revocation (a detector round racing it) leaves it revoked.
    await key_pauses.pause(stores.anomalies(), stores.store, key_id, acct)
    assert await _refusal(stores, acct, key_id) == "key_revoked"


async def test_the_detector_drops_hourly_sums_older_than_five_weeks(stores: Stores) -> None:
    acct = new_id("acct")
    await stores.ledger.create_account(acct, acct, "pro", "prepaid")
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    hours = [now - KEEP - HOUR, now - KEEP + HOUR]
    await stores.pool.executemany(
        "INSERT INTO usage_hours VALUES ($1, 'k', $2, 'm', 1, 1, 'r', $2)",
        [(acct, h) for h in hours],
    )
    detector = Detector(stores.anomalies(), stores.store, clock=lambda: now)
    await detector.tick()
    left = await stores.pool.fetch("SELECT hour FROM usage_hours WHERE account_id = $1", acct)
    assert [r["hour"] for r in left] == hours[1:]


async def test_a_row_stamped_ahead_does_not_hide_the_rows_settled_after_it(
    stores: Stores,
) -> None:
    """The detector's cursor follows its own clock: a row from a clock far ahead (a test
    clock, a skew) is judged, and so is the next round's ordinary row."""
    acct = new_id("acct")
    await stores.ledger.create_account(acct, acct, "pro", "prepaid")
    now = datetime.now(UTC)
    ahead = now.replace(minute=0, second=0, microsecond=0) + 30 * 24 * HOUR
    insert = "INSERT INTO usage_hours VALUES ($1, $2, $3, 'm', $4, 1, 'r', $5)"
    detector = Detector(stores.anomalies(), stores.store, clock=lambda: now)
    await stores.pool.execute(insert, acct, "key_ahead", ahead, 1, ahead)
    await detector.run_once()
    hour = now.replace(minute=0, second=0, microsecond=0)
    await stores.pool.execute(insert, acct, "key_now", hour, FLOOR_REQUESTS, now)
    flags = await detector.run_once()
    assert ("key", "key_now") in {(f["scope"], f["scope_id"]) for f in flags}
