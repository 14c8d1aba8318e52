"""A debit spooled to PostgreSQL while Redis was down (services/money/settlement.py's drain) lands
with the prices that priced it and its end user: the sweeper's apply_pending debits it with the
same version, provider cost, detail and end user."""

from __future__ import annotations

from billing.metering.usage import Usage
from billing.money.admission import Admitted
from gateway.stores.connect import Stores
from gateway.stores.records import PendingDebit, Settlement
from gateway.workers.settler import Settler
from gateway.workers.sweeper import apply_pending
from tests.integration.conftest import make_holder


async def test_a_spooled_debit_keeps_its_prices(stores: Stores) -> None:
    h = await make_holder(stores, markup_bps=2_000)
    rid = f"spooled-{h.account_id}"
    decision = await stores.store.reserve(
        rid, h.record, input_tokens=1000, max_output_tokens=500, spend_micros=450
    )
    assert isinstance(decision, Admitted) and decision.held_micros == 540
    usage = Usage(input_tokens=1000, output_tokens=500, service_tier="flex")
    detail = (("service_tier", "flex"), ("web_search_call", 1))
    settlement = Settlement("gpt-4o-mini", "openai", usage, 540, "gpt-4o-mini@abc", 450, detail)
    spooled = PendingDebit(rid, h.account_id, h.shard, settlement)
    await stores.pending.put([spooled])
    [read] = [p for p in await stores.pending.oldest(10_000) if p.request_id == rid]
    again = read.settlement  # the usage's tier is not kept: the detail names it
    assert (again.cost_micros, again.price_version, again.provider_cost_micros, again.detail) == (
        540, "gpt-4o-mini@abc", 450, detail,
    )  # fmt: skip
    assert await apply_pending(stores.store, stores.pending) >= 1
    await Settler(stores.settlement_stream(), stores.ledger).drain()
    row = await stores.directory().request_entry(h.account_id, rid)
    assert row is not None
    assert (row["amount_micros"], row["provider_cost_micros"]) == (-540, 450)
    assert row["price_version"] == "gpt-4o-mini@abc"
    assert row["usage_detail"] == {"service_tier": "flex", "web_search_call": 1}


async def test_a_spooled_debit_keeps_its_end_user(stores: Stores) -> None:
    h = await make_holder(stores)
    rid = f"spooled-eu-{h.account_id}"
    decision = await stores.store.reserve(
        rid, h.record, input_tokens=10, max_output_tokens=5, spend_micros=50
    )
    assert isinstance(decision, Admitted)
    settlement = Settlement("gpt-4o-mini", "openai", Usage(10, output_tokens=5), 40, "v", 40, (),
                            "cust_7")  # fmt: skip
    await stores.pending.put([PendingDebit(rid, h.account_id, h.shard, settlement)])
    [read] = [p for p in await stores.pending.oldest(10_000) if p.request_id == rid]
    assert read.settlement.end_user == "cust_7"
    assert await apply_pending(stores.store, stores.pending) >= 1
    await Settler(stores.settlement_stream(), stores.ledger).drain()
    row = await stores.directory().request_entry(h.account_id, rid)
    assert row is not None and row["end_user"] == "cust_7"
