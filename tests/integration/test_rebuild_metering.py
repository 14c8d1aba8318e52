"""`meterway rebuild` restores what the metering API keeps in Redis from PostgreSQL: the
service-key directory (revoked keys stay out) and the closed markers of settled and voided
metered ids, so after a lost Redis no settled id can be authorized or debited again."""

from __future__ import annotations

import secrets

from billing.money.admission import Admitted
from billing.money.plans import load_plans
from gateway.config.settings import load_settings
from gateway.ops.rebuild import rebuild
from gateway.services.keys.service import issue_service, revoke_service
from gateway.stores.connect import Stores
from gateway.stores.meter_records import MeterClosed, MeterHold
from gateway.stores.postgres.metering.metered import MeteringLedger
from gateway.workers.settler import Settler
from tests.integration.conftest import make_holder
from tests.support.harness import NOWHERE, REDIS_URL, drop_prefix, gateway_env

PLANS = load_plans(load_settings(gateway_env("postgresql://unused/db", NOWHERE, "p")).plans_path)


def _hold(account_id: str, rid: str, charge_on_expiry: bool) -> MeterHold:
    return MeterHold(rid, account_id, "", "gpu_seconds", 10, 40, "runner", 60_000,
                     charge_on_expiry)  # fmt: skip


async def test_rebuild_restores_service_keys_and_closed_markers(stores: Stores) -> None:
    h = await make_holder(stores)
    ledger, holds = MeteringLedger(stores.pool), stores.store.meters
    live = await issue_service(ledger, holds, f"runner-{h.account_id}", ["gpu_seconds"])
    gone = await issue_service(ledger, holds, f"old-{h.account_id}", ["gpu_seconds"])
    await revoke_service(ledger, holds, gone.row["id"])
    settled, voided = (f"mtr_{h.shard}_{secrets.token_hex(16)}" for _ in range(2))
    for rid, charge in ((settled, True), (voided, False)):
        assert isinstance(await holds.hold(_hold(h.account_id, rid, charge)), Admitted)
    assert await holds.settle(settled, 7, 28)
    assert await holds.expire(voided)
    await Settler(stores.settlement_stream(), stores.ledger).drain()
    before = {rid: await holds.closed(rid) for rid in (settled, voided)}
    assert before == {settled: MeterClosed("debit", 7, 28), voided: MeterClosed("void", 0, 0)}

    await drop_prefix(REDIS_URL, stores.store.keys.prefix)  # Redis lost everything
    assert await holds.lookup_service(live.row["key_hash"]) is None
    result = await rebuild(stores, PLANS)

    assert result["services"] >= 1 and result["closed_markers"] >= 2
    assert {rid: await holds.closed(rid) for rid in (settled, voided)} == before
    for rid in (settled, voided):
        ttl = await stores.redis.pttl(stores.store.keys.closed(h.shard, rid))
        assert 34 * 86_400_000 < ttl <= 35 * 86_400_000
    assert await holds.hold(_hold(h.account_id, settled, True)) == before[settled]
    service = await holds.lookup_service(live.row["key_hash"])
    assert service is not None and service.name == live.row["name"]
    assert await holds.lookup_service(gone.row["key_hash"]) is None
    assert await stores.store.balance(h.account_id) == (1_000_000 - 28, 0)
