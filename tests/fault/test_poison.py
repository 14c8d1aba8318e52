"""Poison in the settlement streams, with good settlements before and behind it, against a
real `meterway serve` (its settler) and the real `meterway` commands.

Three kinds, as issue 9 found them: a count beyond bigint (OverflowError once), a message
missing its cost (KeyError once), and a debit of an account PostgreSQL does not have (a
foreign key, once retried forever in front of every good row). Each poison debit was taken
from its Redis balance the way settle.lua takes one. Afterwards: every good settlement is in
the ledger exactly once, the three are parked with their reasons and visible in /readyz,
/metrics, `reconcile` and `settler dead-letters`; a repair gives no parked debit back; and
once the missing account exists, a requeue writes its debit and every invariant holds.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import aiohttp
import pytest

from gateway.services.auth import new_id
from gateway.stores import stream_fields as sf
from gateway.stores.connect import Stores
from gateway.stores.redis.keys import shard_of
from tests.fault.procs import (
    Proc,
    fault_stores,
    make_tenant,
    run_command,
    settle_directly,
    wait_healthy,
)
from tests.support.harness import ADMIN_KEY, gateway_env
from tests.support.invariants import check_invariants
from tests.support.replies import entries

NOWHERE = "http://127.0.0.1:9"
OPERATOR = {"Authorization": f"Bearer {ADMIN_KEY}"}
GHOST_CREDIT = 50_000


async def first_message(stores: Stores, account_id: str) -> dict[bytes, bytes]:
    """The account's first queued settlement, as named fields."""
    stream = stores.store.keys.stream(shard_of(account_id))
    (_, fields), *_ = entries(await stores.redis.xrange(stream, count=1))
    return sf.named(fields)


async def queue_poison(
    stores: Stores, fields: dict[bytes, bytes], cost: int, *, packed: bool = True
) -> str:
    """XADD a message as settle.lua would (as one packed row, or as the named fields of
    versions before it), taking `cost` from the account's Redis balance."""
    rid = f"req_{secrets.token_hex(8)}"
    fields = {**fields, sf.REQUEST_ID: rid.encode()}
    account = fields.get(sf.ACCOUNT, b"").decode()
    shard = shard_of(account)
    if cost:
        await stores.redis.hincrby(stores.store.keys.account(shard, account), "bal", -cost)
    if packed:
        fields = sf.packed(fields)
    await stores.redis.xadd(stores.store.keys.stream(shard), fields)  # type: ignore[arg-type]
    return rid


async def settled(stores: Stores, parked: int, timeout_s: float = 30.0) -> None:
    for _ in range(int(timeout_s * 10)):
        empty = (await stores.store.backlog()).length == 0
        if empty and await stores.store.dead_letter_count() == parked:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("the settler did not get through the streams")


async def get_json(url: str) -> Any:
    async with aiohttp.ClientSession() as http, http.get(url, headers=OPERATOR) as r:
        return await r.json()


async def metric(url: str, name: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(url, headers=OPERATOR) as r:
        text = await r.text()
    values = [line.split()[-1] for line in text.splitlines() if line.startswith(name + " ")]
    assert len(values) == 1, name
    return float(values[0])


@pytest.mark.timeout(360)
async def test_poison_is_parked_good_settlements_land_and_nothing_is_given_back(
    own_dsn: str,
) -> None:
    await _poison_run(own_dsn)


async def _poison_run(dsn: str) -> None:
    env = gateway_env(dsn, NOWHERE, f"mwt{secrets.token_hex(4)}")
    url = f"http://{env['LISTEN_ADDR']}"
    gateway = Proc(env, "serve")
    async with fault_stores(env) as (_, stores):
        try:
            a, b = await make_tenant(stores, 1_000_000), await make_tenant(stores, 1_000_000)
            costs = await settle_directly(stores, a, 40) | await settle_directly(stores, b, 40)

            # A ghost account: in Redis (its hot record and balance), not in PostgreSQL.
            ghost = new_id("acct")
            await stores.store.put_account(
                ghost,
                plan="enterprise",
                mode="prepaid",
                billing_ready=True,
                quotas=(),
                markup_bps=0,
            )
            await stores.store.apply_credit(ghost, 1, GHOST_CREDIT)
            template = await first_message(stores, a.account_id)
            overflow = {**template, sf.OUTPUT: b"10000000000000000000", sf.COST: b"500"}
            await queue_poison(stores, overflow, 500)
            no_cost = {k: v for k, v in (await first_message(stores, b.account_id)).items()}
            del no_cost[sf.COST]
            await queue_poison(stores, no_cost, 0, packed=False)  # as an older version queued
            orphan = {**template, sf.ACCOUNT: ghost.encode(), sf.COST: b"300"}
            ghost_rid = await queue_poison(stores, orphan, 300)
            # Good settlements behind the poison, in the same streams.
            costs |= await settle_directly(stores, a, 40) | await settle_directly(stores, b, 40)

            await gateway.start()
            await wait_healthy(url)
            await settled(stores, parked=3)

            ready = await get_json(url + "/readyz")
            assert ready["status"] == "ready"  # serving goes on; the operator is told
            assert ready["settlement_dead_letters"] == 3
            assert "dead-letters" in ready["warning"]
            assert await metric(url + "/metrics", "meterway_settlement_dead_letters") == 3
            assert await metric(url + "/metrics", "meterway_settler_dead_lettered_total") == 3

            code, out = await run_command(env, "settler", "dead-letters")
            assert code == 1, out
            reasons = "\n".join(line for line in out.splitlines() if line.startswith("{"))
            assert "output_tokens out of range" in reasons
            assert "unreadable message: KeyError" in reasons
            assert "ledger refused" in reasons and "foreign key" in reasons
            assert "3 settlement(s) parked" in out

            a_hot_before = await stores.store.balance(a.account_id)
            for args in (("reconcile",), ("reconcile", "--repair")):
                code, out = await run_command(env, *args)
                assert code == 1, out
                assert "0 account(s) drifted" in out
                assert "3 settlement(s) parked" in out
                assert "800 micros owed by 2 account(s), 1 unreadable" in out
            assert await stores.store.balance(a.account_id) == a_hot_before  # 500 kept
            a_ledger = await stores.pool.fetchval(
                "SELECT sum(amount_micros) FROM ledger_entries WHERE account_id = $1",
                a.account_id,
            )
            assert a_hot_before == (a_ledger - 500, 0)

            # The cause fixed (the account's ledger row), the ghost's debit is sent back.
            await stores.ledger.create_account(ghost, ghost, "enterprise", "prepaid")
            await stores.ledger.credit(ghost, GHOST_CREDIT, "seed", "test")
            letters = await stores.settlement_stream().dead_letters()
            (entry,) = [d.entry_id for d in letters if d.account_id == ghost]
            code, out = await run_command(
                env, "settler", "dead-letters", "--requeue", "--id", entry
            )
            assert (code, out.strip().splitlines()[-1]) == (
                0,
                "1 settlement(s) sent back to their stream",
            )
            await settled(stores, parked=2)
        finally:
            await gateway.kill()
        report = await check_invariants(stores, [b.account_id, ghost], {**costs, ghost_rid: 300})
        assert report.costed_without_debit == 0
        a_rows = await stores.pool.fetch(
            "SELECT request_id, -amount_micros AS cost FROM ledger_entries"
            " WHERE account_id = $1 AND kind = 'debit'",
            a.account_id,
        )
        assert {r["request_id"]: r["cost"] for r in a_rows} == {
            rid: c for rid, c in costs.items() if rid in {r["request_id"] for r in a_rows}
        }
        assert len(a_rows) == 80
