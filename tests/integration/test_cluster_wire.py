"""The lean hot-path client on a real Redis Cluster: slot routing, MOVED, NOSCRIPT per node."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time

import pytest
import redis

from gateway.stores.redis.keys import SHARDS, Keys
from gateway.stores.redis.wire.cluster import ClusterWire, slot_of
from gateway.stores.redis.wire.resp import WireError, parse_url
from tests.fault.tcp_proxy import CuttableProxy
from tests.support.redis_cluster import RedisCluster

INCR = "return redis.call('INCRBY', KEYS[1], ARGV[1])"
SHA = hashlib.sha1(INCR.encode()).hexdigest()


def wire_for(cluster: RedisCluster) -> ClusterWire:
    seeds = [parse_url(u) for u in cluster.urls.split(",")]
    return ClusterWire([s for s in seeds if s is not None])


async def test_every_shard_runs_on_its_slots_master(redis_cluster: RedisCluster) -> None:
    keys, wire = Keys(f"cw{secrets.token_hex(3)}"), wire_for(redis_cluster)
    try:
        for shard in range(SHARDS):
            # SCRIPT LOAD happens on each master once, on its first NOSCRIPT.
            assert await wire.evalsha(SHA, INCR, (keys.clock(shard),), (shard + 1,)) == shard + 1
        assert wire.refreshes == 1
        with redis.RedisCluster(host="127.0.0.1", port=redis_cluster.nodes[0].port) as rc:
            assert [int(rc.get(keys.clock(s))) for s in range(SHARDS)] == list(range(1, 65))
            rc.delete(*[keys.clock(s) for s in range(SHARDS)])
    finally:
        await wire.close()


async def test_a_stale_slot_map_follows_moved(redis_cluster: RedisCluster) -> None:
    keys, wire = Keys(f"cw{secrets.token_hex(3)}"), wire_for(redis_cluster)
    key = keys.clock(7)
    try:
        assert await wire.evalsha(SHA, INCR, (key,), (1,)) == 1
        slot = slot_of(key, {})
        owner = wire._owner[slot]
        wrong = next(a for a in set(wire._owner) if a is not None and a != owner)
        wire._owner = [wrong] * len(wire._owner)  # as if every slot had moved away
        assert await wire.evalsha(SHA, INCR, (key,), (1,)) == 2  # MOVED, then the owner
        assert wire._owner[slot] == owner
        assert wire.refreshes == 1  # MOVED fixed the slot at once; refresh is for the next
        assert await wire.evalsha(SHA, INCR, (key,), (1,)) == 3
        await wire.refreshed()  # in the background: the call did not wait for it
        assert wire.refreshes == 2
        with redis.RedisCluster(host="127.0.0.1", port=redis_cluster.nodes[0].port) as rc:
            rc.delete(key)
    finally:
        await wire.close()


async def test_a_migrating_slot_follows_ask_to_the_importing_node(
    redis_cluster: RedisCluster,
) -> None:
    """Mid-resharding, a key not yet on the source is answered with ASK: the call goes to
    the importing node behind ASKING, and the slot map is left as it was."""
    keys, wire = Keys(f"cw{secrets.token_hex(3)}"), wire_for(redis_cluster)
    key = keys.clock(11)
    slot = slot_of(key, {})
    owners = redis_cluster.slot_map()
    source = next(n for n in redis_cluster.live() if n.port == owners[slot])
    target = next(n for n in redis_cluster.masters() if n.port != source.port)
    with source.client() as src, target.client() as dst:
        src_id, dst_id = src.execute_command("CLUSTER MYID"), dst.execute_command("CLUSTER MYID")
        dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", src_id)
        src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", dst_id)
        try:
            assert await wire.evalsha(SHA, INCR, (key,), (5,)) == 5
            assert await wire.evalsha(SHA, INCR, (key,), (1,)) == 6  # ASK again, same node
            assert wire._owner[slot] == ("127.0.0.1", source.port)
            dst.execute_command("ASKING")
            assert int(dst.get(key)) == 6
            dst.execute_command("ASKING")
            dst.delete(key)
        finally:
            await wire.close()
            for c in (src, dst):
                c.execute_command("CLUSTER SETSLOT", slot, "STABLE")


async def test_a_silent_node_slows_only_the_calls_for_its_own_slots(
    redis_cluster: RedisCluster,
) -> None:
    """A node that accepts connections and never answers (blackholed, half-open), named
    first among the seeds and then owning one slot: the first refresh takes a live node's
    answer, and while a call to the silent node waits out its timeout, calls for other
    slots, and the refresh that call's failure asks for, keep their own pace."""
    silent = CuttableProxy("127.0.0.1", redis_cluster.nodes[0].port)
    await silent.start()
    silent.blackhole()
    real = [parse_url(u) for u in redis_cluster.urls.split(",")]
    seeds = [parse_url(silent.redis_url), *real]
    # Long timeouts, short bounds: a wait on the silent node is told from a loaded machine.
    wire = ClusterWire([s for s in seeds if s is not None], timeout_s=6.0, connect_timeout_s=6.0)
    keys = Keys(f"cw{secrets.token_hex(3)}")
    live, lost = keys.clock(3), keys.clock(4)
    try:
        asked = time.monotonic()
        assert await wire.evalsha(SHA, INCR, (live,), (1,)) == 1
        assert time.monotonic() - asked < 3.0, "the first refresh waited on the silent seed"
        wire._owner[slot_of(lost, {})] = ("127.0.0.1", silent.port)  # as if the map said so
        waiting = asyncio.ensure_future(wire.evalsha(SHA, INCR, (lost,), (1,)))
        slowest = 0.0
        for n in range(2, 200):
            asked = time.monotonic()
            assert await wire.evalsha(SHA, INCR, (live,), (1,)) == n
            slowest = max(slowest, time.monotonic() - asked)
            if waiting.done():
                break
            await asyncio.sleep(0.1)
        with pytest.raises(WireError):
            await waiting  # its outcome is unknown: failed, never retried elsewhere
        for _ in range(5):  # the map is stale now: the calls do not wait on its refresh
            asked = time.monotonic()
            await wire.evalsha(SHA, INCR, (live,), (1,))
            slowest = max(slowest, time.monotonic() - asked)
        assert slowest < 3.0, slowest
        await wire.refreshed()
        assert wire._owner[slot_of(lost, {})] != ("127.0.0.1", silent.port)
        with redis.RedisCluster(host="127.0.0.1", port=redis_cluster.nodes[0].port) as rc:
            rc.delete(live)
    finally:
        await wire.close()
        await silent.close()
