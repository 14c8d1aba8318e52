"""What differs between one Redis and a Redis Cluster, for the few callers that care.

A cluster refuses any multi-key command whose keys hash to different slots, even when one
node owns them all, so a read across the 64 shard streams becomes one command per stream,
pipelined: redis-py's cluster pipeline sends each node's commands in one round trip.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster


def is_cluster(client: aioredis.Redis) -> bool:
    return isinstance(client, RedisCluster)
