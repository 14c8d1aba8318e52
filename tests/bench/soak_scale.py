"""`python -m tests.bench.soak_scale [--keys N] [--end-users N] [--seconds S]`

Memory at scale: is RSS flat under a long soak at 70% of the measured maximum when every
request brings a key the gateway has not seen for a while and names an end user? The small
soak (`run.sh --soak`) rotates over 1,000 keys, which the key cache holds after a second; a
cache or map that grows per key or per end user shows only when the keys outnumber it.

Steps: bulk-load the keys (tests/bench/bulk_keys.py: COPY and pipelined Redis writes of the
records `issue_key` writes) over `--accounts` accounts, each with a default end-user budget;
start nginx and `meterway serve` (WORKERS=1, in-process settler, pinned to CPU 0; wrk and
nginx on CPU 1); measure the maximum plain throughput (c=32 and c=64, the rotation going on);
calibrate wrk's per-request delay to 70% of it; soak, sampling every 5 s the RSS of the
gateway, Redis (shared with other users of this Redis: its growth is not only ours), wrk,
nginx and this run's PostgreSQL backends. Writes tests/bench/results/soak-scale.md and the
samples as soak-scale.csv.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import redis.asyncio as aioredis
import uvloop

from gateway.services.auth import CACHE_SIZE
from gateway.stores.redis.keys import Keys
from gateway.stores.redis.stream import backlog
from tests.bench import fixtures
from tests.bench.__main__ import _say, _settings
from tests.bench.bulk_keys import Loaded, populate_bulk
from tests.bench.load import Run
from tests.bench.procs import OWN_REDIS_URL, family, free_port, matching
from tests.bench.rotation import Rotation, write_user_body
from tests.bench.rss_samples import Sampler, private, rss, summary
from tests.bench.targets import LOAD_CPU, Target, start_meterway
from tests.bench.upstream import Upstream, start_nginx

RESULTS = Path(__file__).resolve().parent / "results"
SOAK_CONNS = 64  # wrk paces by a whole-ms delay per request: 64 make each ms ~2-4% of rate
GATEWAY = "gateway (meterway serve, in-process settler)"
PG = "postgres backends of this run (private RssAnon)"
# MWBENCH_REDIS_URL: a Redis of the run's own, whose growth is then the run's alone
REDIS = "redis-server " + ("(own)" if OWN_REDIS_URL in os.environ else "(shared: all its users)")


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.bench.soak_scale", description=__doc__)
    p.add_argument("--keys", type=int, default=1_000_000)
    p.add_argument("--accounts", type=int, default=10_000)
    p.add_argument("--end-users", type=int, default=100_000)
    p.add_argument("--seconds", type=float, default=600)
    p.add_argument("--probe", type=float, default=15, help="seconds per maximum probe")
    p.add_argument("--share", type=float, default=0.7, help="soak rate / measured maximum")
    p.add_argument("--workers", type=int, default=1, help="gateway WORKERS (1: pinned)")
    p.add_argument(
        "--keep", action="store_true", help="leave the database and the Redis keys to inspect"
    )
    return p.parse_args()


async def _redis_state() -> tuple[int, int, int]:
    """Redis's pid, its used_memory (bytes, every user's) and this run's settlement backlog."""
    client = aioredis.Redis.from_url(fixtures.REDIS_URL)
    try:
        server, memory = await client.info("server"), await client.info("memory")
        queued = (await backlog(client, Keys(fixtures.PREFIX))).length
        return int(server["process_id"]), int(memory["used_memory"]), queued
    finally:
        await client.aclose()


def _busy() -> tuple[float, float]:
    """Busy and total jiffies of the whole machine (/proc/stat), for its load over the soak."""
    fields = [float(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


@contextlib.contextmanager
def _cleanup(keep: bool) -> Iterator[None]:
    try:
        yield
    finally:
        if not keep:
            uvloop.run(fixtures.drop_prefix())
            uvloop.run(fixtures.drop_database())


def _maximum(rot: Rotation, seconds: float) -> tuple[Run, int]:
    """The best plain rate at c=32 and c=64 (keys rotating), and the connections it used."""
    runs = {c: rot.run(c, seconds) for c in (32, 64)}
    best = max(runs, key=lambda c: runs[c].rps)
    for c, r in runs.items():
        _say(f"  c={c}: {r.rps:,.0f} req/s, p50 {r.p50_ms:.1f} ms, {r.non2xx} non-2xx")
    return runs[best], best


def _soak(
    rot: Rotation, mw: Target, upstream: Upstream, seconds: float, delay: int
) -> tuple[Run, Sampler, dict[str, float]]:
    redis_pid, mem0, backlog0 = uvloop.run(_redis_state())
    wrk_holder: list[int] = []
    own_pg = f" {fixtures.DATABASE} "
    workers = mw.pids()
    gateway = {f"{GATEWAY} pid {pid}": rss(partial(list, (pid,))) for pid in workers}
    if len(workers) == 1:
        gateway = {GATEWAY: rss(mw.pids)}
    sampler = Sampler(
        {
            **gateway,
            REDIS: rss(lambda: [redis_pid]),
            "wrk (load generator)": rss(lambda: wrk_holder),
            "nginx (upstream)": rss(lambda: family(upstream.proc.pid)),
            PG: private(lambda: matching(own_pg)),
        }
    )
    cpu0, busy0 = mw.cpu(), _busy()
    sampler.start()
    proc = rot.start(SOAK_CONNS, seconds, delay)
    wrk_holder.append(proc.pid)
    run = rot.finish(proc, SOAK_CONNS)
    sampler.stop()  # no sample after wrk's exit: the end is the last one taken under load
    busy1, (_, mem1, backlog1) = _busy(), uvloop.run(_redis_state())
    machine = (busy1[0] - busy0[0]) / (busy1[1] - busy0[1])
    return (
        run,
        sampler,
        {
            "gateway_cores": (mw.cpu() - cpu0) / run.seconds,
            "machine_busy": machine,
            "redis_used_mib_start": mem0 / 2**20,
            "redis_used_mib_end": mem1 / 2**20,
            "backlog_start": backlog0,
            "backlog_end": backlog1,
        },
    )


def _report(
    args: argparse.Namespace,
    loaded: Loaded,
    best: tuple[Run, int],
    soak: tuple[Run, Sampler, dict[str, float]],
    delay: int,
    loads: tuple[str, str],
) -> str:
    (peak, peak_c), (run, sampler, extra) = best, soak
    users_each = max(1, args.end_users // loaded.accounts)  # as soak.lua spreads them
    users = min(run.requests, loaded.accounts * users_each)  # soak.lua: accounts in turn
    minute = 60.0 if args.seconds >= 120 else args.seconds / 10
    notes = {
        GATEWAY: f"{extra['gateway_cores']:.2f} cores used; key cache bound {CACHE_SIZE:,}",
        REDIS: f"used_memory {extra['redis_used_mib_start']:.0f}"
        f" -> {extra['redis_used_mib_end']:.0f} MiB",
    }
    head = [
        "# Meterway soak at scale",
        "",
        f"- run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"`MWBENCH_TAG={fixtures.TAG} python -m tests.bench.soak_scale --keys {args.keys} "
        f"--accounts {args.accounts} --end-users {args.end_users} --seconds {args.seconds:g}`",
        f"- population: {loaded.accounts:,} accounts with end-user budgets in "
        f"{loaded.accounts_s:.0f} s (populate + rebuild), {loaded.keys:,} keys in "
        f"{loaded.keys_s:.0f} s (COPY + pipelined Redis)",
        f"- maximum: {peak.rps:,.0f} req/s at c={peak_c} (plain, keys rotating, "
        f"{args.probe:g} s); soak target {args.share:.0%} = {args.share * peak.rps:,.0f} req/s",
        f"- soak: c={SOAK_CONNS}, delay {delay} ms: {run.rps:,.0f} req/s "
        f"({run.rps / peak.rps:.0%} of max), {run.requests:,} requests "
        f"({min(run.requests, args.keys):,} distinct keys, "
        f"{users:,} distinct end users, {users_each} per account), p50 {run.p50_ms:.1f} ms, "
        f"p99 {run.p99_ms:.1f} ms, non-2xx {run.non2xx}, socket errors {run.socket_errors}",
        f"- settlement backlog before/after: {extra['backlog_start']:.0f} / "
        f"{extra['backlog_end']:.0f} messages",
        f"- machine: {extra['machine_busy']:.0%} of both cores busy over the soak; load "
        f"average before/after {loads[0]} / {loads[1]}",
        "",
        "RSS in MiB, sampled every 5 s:",
        "",
    ]
    return "\n".join([*head, *summary(sampler, minute, notes), ""])


def main() -> int:
    args = _args()
    RESULTS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mwsoak-") as tmp, _cleanup(args.keep):
        work = Path(tmp)
        settings = _settings(fixtures.bench_config(work / "config"))
        per_account = max(1, args.keys // args.accounts)
        _say(f"populate: {args.accounts:,} accounts x {per_account:,} keys")
        loaded = uvloop.run(populate_bulk(settings, args.accounts, per_account, work / "k.txt"))
        _say(f"  accounts {loaded.accounts_s:.0f} s, {loaded.keys:,} keys {loaded.keys_s:.0f} s")
        upstream = start_nginx(free_port(), LOAD_CPU)
        mw = start_meterway(upstream.url, settings.config_dir, work, workers=args.workers)
        try:
            body = write_user_body(work / "body-user.json")
            rot = Rotation(mw.url, loaded.keys_file, body, args.end_users, per_account, LOAD_CPU)
            rot.run(8, 5)  # warm
            _say("maximum")
            best = _maximum(rot, args.probe)
            target = args.share * best[0].rps
            delay = rot.pace(target, SOAK_CONNS, best[0].p50_ms)
            _say(f"soak {args.seconds:g} s at ~{target:,.0f} req/s (delay {delay} ms)")
            load0 = " ".join(Path("/proc/loadavg").read_text().split()[:3])
            soak = _soak(rot, mw, upstream, args.seconds, delay)
            load1 = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        finally:
            mw.close()
            upstream.close()
    text = _report(args, loaded, best, soak, delay, (load0, load1))
    (RESULTS / "soak-scale.md").write_text(text)
    (RESULTS / "soak-scale.csv").write_text(soak[1].csv())
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
