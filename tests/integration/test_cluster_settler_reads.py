"""The settler's reads on a real Redis Cluster: one XREADGROUP per shard stream, sent to its
node, and nothing else asked of Redis (redis-py left alone asks `COMMAND` twice for each,
128 round trips a read); a slot map gone out of date still reads every stream."""

from __future__ import annotations

from typing import Any

from redis.asyncio.cluster import RedisCluster as ClusterClient

from gateway.stores.connect import Stores
from gateway.stores.redis.keys import SHARDS
from tests.support.redis_cluster import RedisCluster


def _calls(cluster: RedisCluster) -> dict[str, int]:
    """Each command's calls, summed over the masters, since their last reset."""
    total: dict[str, int] = {}
    for node in cluster.masters():
        for name, stat in node.client().info("commandstats").items():
            command = name.removeprefix("cmdstat_").split("|")[0]
            total[command] = total.get(command, 0) + int(stat["calls"])
    return total


def _reset(cluster: RedisCluster) -> None:
    for node in cluster.masters():
        node.client().config_resetstat()


async def _queue(stores: Stores, shards: tuple[int, ...]) -> None:
    for shard in shards:
        await stores.store.redis.xadd(stores.store.keys.stream(shard), {"m": f"shard {shard}"})


async def test_a_read_sends_each_stream_to_its_node_and_nothing_else(
    cluster_stores: Stores, redis_cluster: RedisCluster
) -> None:
    stream = cluster_stores.settlement_stream("reader")
    await stream.ensure_groups()
    await _queue(cluster_stores, (3, 40))
    _reset(redis_cluster)
    got = await stream.read(10, pending=False)
    assert sorted(q.shard for q in got) == [3, 40]
    calls = _calls(redis_cluster)
    assert calls.get("xreadgroup") == SHARDS and "command" not in calls, calls


async def test_a_stale_slot_map_still_reads_every_stream(
    cluster_stores: Stores, redis_cluster: RedisCluster
) -> None:
    """Every slot mapped to one master, as if the others' slots had moved: the targeted reads
    are refused (MOVED), and the read is made again through redis-py's own routing."""
    stream = cluster_stores.settlement_stream("reader")
    await stream.ensure_groups()
    await _queue(cluster_stores, tuple(range(0, SHARDS, 9)))
    client = cluster_stores.store.redis
    assert isinstance(client, ClusterClient)
    slots: Any = client.nodes_manager.slots_cache
    one = slots[0]
    for slot in list(slots):
        slots[slot] = one
    got = await stream.read(100, pending=False)
    assert sorted(q.shard for q in got) == list(range(0, SHARDS, 9))
