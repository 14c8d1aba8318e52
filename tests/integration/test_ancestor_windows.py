"""A key minted under a key is counted in its ancestors' windows too, by reserve.lua in the
same call (the ancestors' hashes and counters passed through KEYS): three children of a
2-requests-a-day key get 2 requests between them, three children of a 1,000-micros-a-day
key hold 1,000 micros between them, and a limit tightened on the parent holds its
children on their next request. Each child's own limit is as wide as the parent's, so
before the ancestors were counted every child spent the whole cap again (issue 56)."""

from __future__ import annotations

import secrets

from billing.money.admission import Admitted, QuotaRefused
from billing.money.quotas import Quota, encode_quotas
from gateway.ops.rebuild import rebuild
from gateway.services.auth import new_id
from gateway.services.keys.provisioning import KeySpec, issue_key
from gateway.stores.connect import Stores
from gateway.stores.records import KeyRecord, minted_by_key
from gateway.stores.redis.keys import shard_of
from gateway.stores.redis.records import decode_reservation
from gateway.stores.redis.wire.replies import undeclared
from gateway.stores.redis.wire.scripts import load_script
from tests.integration.conftest import Holder, make_holder
from tests.integration.test_rebuild_metering import PLANS
from tests.support.harness import REDIS_URL, drop_prefix

DAY_2 = Quota("day", "requests", 2)
SPEND_1000 = Quota("day", "spend_micros", 1_000)


async def child_of(stores: Stores, parent: KeyRecord, quotas: tuple[Quota, ...]) -> KeyRecord:
    record = KeyRecord(
        new_id("key"),
        parent.account_id,
        parent.shard,
        "child",
        (),
        (),
        ancestors=(parent.key_id, *parent.ancestors),
    )
    await stores.store.put_key(record, secrets.token_hex(32), expires_at_ms=0, quotas=quotas)
    return record


async def reserve(stores: Stores, key: KeyRecord, spend: int = 10) -> object:
    return await stores.store.reserve(
        new_id("req"), key, input_tokens=1, max_output_tokens=1, spend_micros=spend
    )


async def test_children_share_their_parents_request_window(stores: Stores) -> None:
    h: Holder = await make_holder(stores, key_quotas=(DAY_2,))
    children = [await child_of(stores, h.record, (DAY_2,)) for _ in range(3)]
    decisions = [await reserve(stores, c) for c in children for _ in range(2)]
    admitted = [d for d in decisions if isinstance(d, Admitted)]
    assert len(admitted) == 2, decisions
    refused = [d for d in decisions if isinstance(d, QuotaRefused)]
    assert refused and all(r.scope_id == h.record.key_id for r in refused), refused
    assert isinstance(await reserve(stores, h.record), QuotaRefused)


async def test_grandchildren_count_in_every_ancestor_and_settle_gives_back(
    stores: Stores,
) -> None:
    h = await make_holder(stores, key_quotas=(SPEND_1000,))
    child = await child_of(stores, h.record, (SPEND_1000,))
    grandchildren = [await child_of(stores, child, (SPEND_1000,)) for _ in range(3)]
    held = [await reserve(stores, g, spend=400) for g in grandchildren]
    assert [isinstance(d, Admitted) for d in held] == [True, True, False], held
    first = held[0]
    assert isinstance(first, Admitted)
    raw = await stores.store.redis.hget(stores.store.keys.reservations(h.shard), first.request_id)
    assert raw is not None
    names = {c.name for c in decode_reservation(raw).counters}
    for owner in (h.record.key_id, child.key_id, grandchildren[0].key_id):
        assert any(f"k:{owner}:" in n for n in names), names
    await stores.store.release(h.shard, h.account_id, first.request_id)
    assert isinstance(await reserve(stores, grandchildren[2], spend=400), Admitted)


async def test_a_parent_tightened_later_holds_its_children_at_once(stores: Stores) -> None:
    h = await make_holder(stores, key_quotas=(Quota("day", "requests", 10),))
    child = await child_of(stores, h.record, (Quota("day", "requests", 10),))
    assert isinstance(await reserve(stores, child), Admitted)
    await stores.store.set_key_quotas(h.shard, h.record.key_id, (Quota("day", "requests", 1),))
    refused = await reserve(stores, child)
    assert isinstance(refused, QuotaRefused) and refused.scope_id == h.record.key_id, refused


async def test_undeclared_tells_the_ancestors_and_their_specs(stores: Stores) -> None:
    """The wire format both sides read: `id=spec,...`, `?` for a hash not given in KEYS
    (the script read nothing it was not handed); `Declarations` learns both."""
    h = await make_holder(stores, key_quotas=(DAY_2,))
    child = await child_of(stores, h.record, ())
    store, k, s = stores.store, stores.store.keys, h.shard
    raw = load_script(store.redis, "reserve")
    args = ("r1", h.account_id, child.key_id, 1, 1, 1, 10, 0, 60_000, "1", k.counters(s), "")
    fixed = store._reserve_keys(child)
    blind = undeclared(await raw(fixed, args))
    assert blind is not None and blind.ancestors == f"{h.record.key_id}=?"
    told = undeclared(await raw((*fixed, k.api_key(s, h.record.key_id)), args))
    assert told is not None and told.ancestors == f"{h.record.key_id}={encode_quotas((DAY_2,))}"
    stale = KeyRecord(child.key_id, child.account_id, s, "child", (), ())  # no ancestors
    store._declared.learn_specs(stale, told)
    names = store._declared.names(stale, 0)
    assert k.api_key(s, h.record.key_id) in names
    assert any(f"k:{h.record.key_id}:d:r" in n for n in names), names


async def test_on_a_cluster_the_ancestors_counters_share_the_keys_slot(
    cluster_stores: Stores,
) -> None:
    """Every name reserve.lua is handed for an ancestor (its hash, its counters) carries the
    account's shard tag, so the call stays in one slot; held and given back there."""
    stores = cluster_stores
    h = await make_holder(stores, key_quotas=(SPEND_1000,))
    grandchildren = []
    for _ in range(3):
        child = await child_of(stores, h.record, (SPEND_1000,))
        grandchildren.append(await child_of(stores, child, ()))
    held = [await reserve(stores, g, spend=400) for g in grandchildren]
    assert [isinstance(d, Admitted) for d in held] == [True, True, False], held
    first = held[0]
    assert isinstance(first, Admitted)
    await stores.store.release(h.shard, h.account_id, first.request_id)
    assert isinstance(await reserve(stores, grandchildren[2], spend=400), Admitted)


async def test_rebuild_restores_a_keys_ancestors(stores: Stores) -> None:
    """The lineage lives in PostgreSQL (`api_keys.ancestors`): a Redis rebuilt from it
    counts a child in its parent's windows as before."""
    acct = new_id("acct")
    await stores.ledger.create_account(acct, acct, "pro", "prepaid")
    parent = await issue_key(stores.ledger, stores.store, acct, KeySpec("p", quotas=(DAY_2,)))
    row = await stores.ledger.get_key(parent.key_id)
    assert row is not None
    child = await issue_key(
        stores.ledger, stores.store, acct, KeySpec("c", quotas=(DAY_2,)), minted_by_key(row)
    )
    await drop_prefix(REDIS_URL, stores.store.keys.prefix)  # Redis lost everything
    await rebuild(stores, PLANS)
    name = stores.store.keys.api_key(shard_of(acct), child.key_id)
    assert await stores.redis.hget(name, "an") == parent.key_id.encode()
    child_row = await stores.ledger.get_key(child.key_id)
    assert child_row is not None and child_row["ancestors"] == [parent.key_id]
    record = await stores.store.lookup_key(child_row["key_hash"])
    assert record is not None and record.ancestors == (parent.key_id,)
