"""What `meterway rebuild` restores into a lost Redis still holds once `meterway ledger
retention` archived the month of the entries it is made from: a credit already applied is
never applied again on a retry, and a settled metered id keeps its closed marker for its
whole lifetime. Retention runs with a clock two months ahead (on a database of its own), so
that entries written now can be archived."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from billing.money.admission import Admitted
from gateway.ops.ledger_months import add_months, month_of, retain
from gateway.ops.rebuild import rebuild
from gateway.services.money.credits import post_credit
from gateway.stores.connect import Stores
from gateway.stores.meter_records import MeterClosed, MeterHold
from gateway.stores.ports.money.payments import LedgerMoney
from gateway.workers.settler import Settler
from tests.integration.conftest import make_holder
from tests.integration.test_rebuild_metering import PLANS
from tests.support.harness import REDIS_URL, drop_prefix

THIS_MONTH = month_of(datetime.now(UTC))
LATER = datetime.combine(add_months(THIS_MONTH, 2), datetime.min.time(), UTC)


async def _archive_this_month_and_lose_redis(stores: Stores) -> None:
    done = await retain(stores, add_months(THIS_MONTH, 1), LATER)
    assert THIS_MONTH in [m.month for m in done]
    await drop_prefix(REDIS_URL, stores.store.keys.prefix)
    await rebuild(stores, PLANS)


async def test_a_credit_retried_after_its_month_was_archived_is_not_applied_again(
    own: Stores,
) -> None:
    h = await make_holder(own, credit=0)
    first = await post_credit(own.ledger, own.store, h.account_id, 5_000, "pay-1", "topup")
    assert first.created and first.balance_micros == 5_000
    await _archive_this_month_and_lose_redis(own)
    assert await own.store.balance(h.account_id) == (5_000, 0)
    again = await post_credit(own.ledger, own.store, h.account_id, 5_000, "pay-1", "topup")
    assert not again.created and again.entry_id == first.entry_id
    assert await own.store.balance(h.account_id) == (5_000, 0)


async def test_a_metered_id_settled_in_an_archived_month_stays_closed(own: Stores) -> None:
    h = await make_holder(own)
    holds = own.store.meters
    rid = f"mtr_{h.shard}_{secrets.token_hex(16)}"
    hold = MeterHold(rid, h.account_id, "", "gpu_seconds", 10, 40, "runner", 60_000, True)
    assert isinstance(await holds.hold(hold), Admitted)
    assert await holds.settle(rid, 7, 28)
    await Settler(own.settlement_stream(), own.ledger).drain()
    await _archive_this_month_and_lose_redis(own)
    assert await holds.closed(rid) == MeterClosed("debit", 7, 28)
    assert await holds.hold(hold) == MeterClosed("debit", 7, 28)  # never authorized again
    assert await own.store.balance(h.account_id) == (1_000_000 - 28, 0)


async def test_payments_reconcile_still_finds_a_payment_of_an_archived_month(own: Stores) -> None:
    h = await make_holder(own, credit=0)
    await post_credit(own.ledger, own.store, h.account_id, 9_000, "pi_archived", "payment")
    await post_credit(own.ledger, own.store, h.account_id, -2_000, "re_archived", "refund",
                      kind="refund")  # fmt: skip
    await _archive_this_month_and_lose_redis(own)
    found = await own.payments_store().ledger_by_keys(["pi_archived", "re_archived", "pi_no"])
    assert found == {
        "pi_archived": LedgerMoney("pi_archived", h.account_id, 9_000, "credit"),
        "re_archived": LedgerMoney("re_archived", h.account_id, -2_000, "refund"),
    }
