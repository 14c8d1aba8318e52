"""A key's record is cached per gateway process, but for at most KEY_CACHE_TTL_S: a scope
narrowed through one process (which forgets its own copy at once) reaches a process that
still holds the wider copy within that time, read again from the real directory."""

from __future__ import annotations

from billing.grants import Grant
from gateway.services.auth import KEY_CACHE_TTL_S, KeyResolver
from gateway.services.keys.life_cycle import set_key_grant
from gateway.services.keys.provisioning import KeySpec, issue_key
from gateway.stores.connect import Stores
from tests.integration.conftest import make_holder


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def test_a_narrowed_scope_reaches_another_process_within_the_ttl(stores: Stores) -> None:
    h = await make_holder(stores)
    issued = await issue_key(
        stores.ledger, stores.store, h.account_id, KeySpec("wide", scopes=("chat", "embeddings"))
    )
    clock = Clock()
    here, there = KeyResolver(stores.store, clock=clock), KeyResolver(stores.store, clock=clock)
    for process in (here, there):
        assert set((await process.resolve_secret(issued.secret)).scopes) == {"chat", "embeddings"}

    row = await stores.ledger.get_key(issued.key_id)
    assert row is not None
    written = await set_key_grant(
        stores.ledger, stores.store, row, Grant(frozenset({"chat"}), frozenset())
    )
    here.forget(r["key_hash"] for r in written)  # what the narrowing process does
    assert set((await here.resolve_secret(issued.secret)).scopes) == {"chat"}

    clock.now += KEY_CACHE_TTL_S - 1
    assert "embeddings" in (await there.resolve_secret(issued.secret)).scopes  # its copy
    clock.now += 1
    assert set((await there.resolve_secret(issued.secret)).scopes) == {"chat"}
