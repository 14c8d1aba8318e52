from __future__ import annotations

import hashlib

from gateway.services.auth import KEY_PREFIX, hash_key, mint_key, new_id
from gateway.stores.redis.keys import SHARDS, Keys, shard_of


def test_keys_are_high_entropy_and_only_hashed() -> None:
    keys = {mint_key() for _ in range(1000)}
    assert len(keys) == 1000
    key = keys.pop()
    assert key.startswith(KEY_PREFIX) and len(key) >= 40
    assert hash_key(key) == hashlib.sha256(key.encode()).hexdigest()
    assert new_id("acct").startswith("acct_")


def test_every_key_of_a_shard_shares_its_hash_tag() -> None:
    k = Keys("p")
    shard = shard_of("acct_x")
    assert 0 <= shard < SHARDS
    names = [
        k.account(shard, "acct_x"),
        k.api_key(shard, "key_1"),
        k.reservations(shard),
        k.deadlines(shard),
        k.ready(shard),
        k.stream(shard),
        k.counters(shard),
        k.credits(shard, "acct_x"),
        k.clock(shard),
    ]
    assert {n.split("{")[1].split("}")[0] for n in names} == {str(shard)}
    assert shard_of("acct_x") == shard  # stable, not Python's salted hash()
