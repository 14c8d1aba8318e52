"""A settle that finds its reservation voided still debits the delivered usage, once; a
reservation id reserved twice is refused with a proper error, not a bare ValueError."""

from __future__ import annotations

import secrets

import pytest

from billing.metering.usage import Usage
from billing.money.next_step import Links
from billing.money.plans import load_plans
from billing.pricing import load_pricing
from gateway.config.settings import PROVIDERS
from gateway.errors import RequestInFlight
from gateway.llm.endpoints import CHAT
from gateway.llm.reading.calls import read_call
from gateway.services.money.meter.metering import Meter
from gateway.stores.redis.hotstore import CLOSED, DEBITED_LATE, Settlement
from gateway.workers.settler import Settler
from gateway.workers.sweeper import sweep_once
from tests.fault.procs import fault_stores, make_tenant
from tests.support.harness import COUNTER, gateway_env
from tests.support.invariants import check_invariants


async def test_settle_after_void_debits_once(dsn: str) -> None:
    env = gateway_env(dsn, "http://127.0.0.1:9", f"mwt{secrets.token_hex(4)}")
    async with fault_stores(env) as (settings, stores):
        t = await make_tenant(stores, 1_000_000)
        r, store = t.record, stores.store
        await store.reserve(
            "rid-late", r, input_tokens=10, max_output_tokens=100, spend_micros=5000
        )
        await stores.redis.incrby(store.keys.clock(0), int(settings.reservation_ttl_s * 1000) + 1)
        assert await sweep_once(store) == 1
        settlement = Settlement("demo", "openai", Usage(input_tokens=10, output_tokens=40), 700)
        assert await store.settle(r.shard, r.account_id, "rid-late", settlement) == DEBITED_LATE
        assert await store.settle(r.shard, r.account_id, "rid-late", settlement) == CLOSED
        await Settler(stores.settlement_stream(), stores.ledger).drain()
        kinds = await stores.pool.fetch(
            "SELECT kind, amount_micros FROM ledger_entries WHERE request_id = 'rid-late'"
            " ORDER BY id"
        )
        assert [(k["kind"], k["amount_micros"]) for k in kinds] == [("void", 0), ("debit", -700)]
        report = await check_invariants(stores, [r.account_id])
        assert report.debited_micros == 700


async def test_duplicate_request_id_is_a_conflict(dsn: str) -> None:
    env = gateway_env(dsn, "http://127.0.0.1:9", f"mwt{secrets.token_hex(4)}")
    async with fault_stores(env) as (settings, stores):
        t = await make_tenant(stores, 1_000_000)
        pricing = load_pricing(settings.pricing_path, frozenset(PROVIDERS))
        meter = Meter(stores.store, load_plans(settings.plans_path), Links("/billing"))
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}
        call = read_call(CHAT, body, t.record, pricing, COUNTER)
        await meter.admit("rid-twice", t.record, call)
        with pytest.raises(RequestInFlight) as caught:
            await meter.admit("rid-twice", t.record, call)
        assert caught.value.status == 409
        await stores.store.release(t.record.shard, t.account_id, "rid-twice")
