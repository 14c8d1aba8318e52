"""`python -m tests.bench.redis_keyspace [--prefix P] [--sample N]`: what a bench left in Redis.

After `soak_scale --keep`, Redis's growth has to be named: which families of keys (key hashes,
the key directory, quota counters by window, end users' live sets, ...) there are, how many
of each, and about how much memory each family takes. Key names are reduced to their shape
(ids and numbers replaced), counted over a full SCAN of the prefix, and `MEMORY USAGE` is
read for the first `--sample` keys of each shape, scaled by the count. TTLs are sampled too:
a family whose keys never expire is one that grows with every new key or end user.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from collections import Counter, defaultdict

import redis.asyncio as aioredis

from tests.bench import fixtures

PLACES = (
    (re.compile(r"\b([a-z]+)_[0-9a-f]{8,}"), r"<\1>"),  # new_id's ids: acct_…, key_…
    (re.compile(r"\b[0-9a-f]{32,}\b"), "<hash>"),  # the key directory's SHA-256
    (re.compile(r"\buser-\d+"), "<end user>"),  # soak.lua's end users
    (re.compile(r"\{\d+\}"), "{shard}"),
    (re.compile(r"\b\d+\b"), "<n>"),  # periods, granules
)


def shape(name: str) -> str:
    """The key name with its ids, shard tags and numbers replaced by placeholders."""
    for pattern, place in PLACES:
        name = pattern.sub(place, name)
    return name


async def survey(prefix: str, sample: int) -> list[str]:
    client = aioredis.Redis.from_url(fixtures.REDIS_URL)
    counts: Counter[str] = Counter()
    picked: dict[str, list[bytes]] = defaultdict(list)
    try:
        async for raw in client.scan_iter(match=f"{prefix}:*", count=5000):
            s = shape(raw.decode()[len(prefix) :])
            counts[s] += 1
            if len(picked[s]) < sample:
                picked[s].append(raw)
        lines = [
            "| key shape | keys | sampled bytes / key | est. MiB | sampled keys with a TTL |",
            "|---|---:|---:|---:|---:|",
        ]
        for s, n in counts.most_common():
            names = picked[s]
            sizes = [await client.memory_usage(k) or 0 for k in names]
            ttls = [await client.pttl(k) for k in names]
            per = sum(sizes) / len(sizes)
            with_ttl = sum(t > 0 for t in ttls)
            lines.append(
                f"| `{s}` | {n:,} | {per:,.0f} | {per * n / 2**20:,.1f} | {with_ttl}/{len(ttls)} |"
            )
        info = await client.info("memory")
        lines.append(f"\nused_memory: {int(info['used_memory']) / 2**20:,.1f} MiB")
        return lines
    finally:
        await client.aclose()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m tests.bench.redis_keyspace", description=__doc__)
    p.add_argument("--prefix", default=fixtures.PREFIX)
    p.add_argument("--sample", type=int, default=200)
    args = p.parse_args()
    print("\n".join(asyncio.run(survey(args.prefix, args.sample))))


if __name__ == "__main__":
    main()
