"""`python -m tests.bench.core_share [--own-redis] [--rounds N] [--seconds S]`

Where the gateway's pinned core goes under the bench's plain load (c=32 and c=64, 1,000
keys): per round and arm, the share of a core the proxy process used, the share of each
CPU that was busy (`/proc/stat`), and what redis-server and the bench database's PostgreSQL
backends used. The gateway and the bare proxy are pinned to CPU 0 and wrk and nginx to CPU
1, as in the main bench, but Redis and PostgreSQL float: a request's Redis and ledger work
can land on the gateway's own core, which the bare proxy never pays. `--own-redis` runs a
`redis-server` of its own pinned to CPU 1 and moves the bench database's backends there
too, so the gateway has its core to itself (as it would with Redis and PostgreSQL on other
hosts) and what remains of the gap is its own CPU per request.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.bench import fixtures, phases
from tests.bench.__main__ import _cleanup, _prepare, bench
from tests.bench.procs import (
    OWN_REDIS_PID,
    OWN_REDIS_URL,
    cpu_by_pid,
    free_port,
    matching,
    rerun_on_own_redis,
)
from tests.bench.profiles import QUICK
from tests.bench.targets import GATEWAY_CPU, LOAD_CPU, Target, start_bare, start_meterway
from tests.bench.upstream import start_nginx


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.bench.core_share", description=__doc__)
    p.add_argument("--own-redis", action="store_true", help="Redis and PostgreSQL on CPU 1")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("--accounts", type=int, default=100)
    p.add_argument("--keys", type=int, default=1000)
    return p.parse_args()


def _busy() -> dict[str, tuple[int, int]]:
    """(busy, total) jiffies per CPU."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3].isdigit():
            name, *fields = line.split()
            ticks = [int(f) for f in fields]
            idle = ticks[3] + ticks[4]  # idle + iowait
            out[name] = (sum(ticks) - idle, sum(ticks))
    return out


def _pin_backends() -> None:
    """The bench database's backends to the load CPU (a backend forked later is pinned at
    the next round)."""
    for pid in matching(f" {fixtures.DATABASE} "):
        with contextlib.suppress(OSError):  # gone, or not ours to move
            os.sched_setaffinity(pid, {LOAD_CPU})


def _cpu(pids: Callable[[], list[int]]) -> Callable[[], float]:
    """A reader of the summed CPU seconds of whatever `pids()` lists when asked."""
    start = cpu_by_pid(pids())

    def since() -> float:
        return sum(s - start.get(pid, 0.0) for pid, s in cpu_by_pid(pids()).items())

    return since


def _round(b: phases.Bench, t: Target, c: int, seconds: float, redis_pids: list[int]) -> str:
    cpus_before, gateway_before = _busy(), t.cpu()
    redis = _cpu(lambda: redis_pids)
    postgres = _cpu(lambda: matching(f" {fixtures.DATABASE} "))
    started = time.monotonic()
    run = b.load(t, stream=False, c=c, seconds=seconds)
    wall = time.monotonic() - started
    cpus = _busy()
    share = {k: (cpus[k][0] - v[0]) / max(cpus[k][1] - v[1], 1) for k, v in cpus_before.items()}
    return (
        f"| {t.name} | {c} | {run.rps:,.0f} | {(t.cpu() - gateway_before) / wall:.2f} "
        f"| {redis() / wall:.2f} | {postgres() / wall:.2f} "
        f"| {share[f'cpu{GATEWAY_CPU}']:.2f} | {share[f'cpu{LOAD_CPU}']:.2f} | {run.non2xx} |"
    )


def measure(a: argparse.Namespace, redis_pids: list[int]) -> str:
    lines = [
        "| arm | c | req/s | proxy's share of a core | redis-server | PostgreSQL (bench db) "
        f"| CPU {GATEWAY_CPU} busy | CPU {LOAD_CPU} busy | non-2xx |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory(prefix="mwshare-") as tmp, _cleanup(False):
        work = Path(tmp)
        settings, _ = _prepare(work, a)
        upstream = start_nginx(free_port(), LOAD_CPU)
        bare = start_bare(upstream.url, work)
        mw = start_meterway(upstream.url, settings.config_dir, work)
        b = bench(QUICK, work, upstream.url, bare, mw)
        try:
            for t in (bare, mw):
                b.warm(t)
            for _ in range(a.rounds):
                for t in (bare, mw):
                    for c in (32, 64):
                        if a.own_redis:
                            _pin_backends()
                        lines.append(_round(b, t, c, a.seconds, redis_pids))
                        print(lines[-1], flush=True)
        finally:
            for t in (bare, mw):
                t.close()
            upstream.close()
    where = (
        "own redis-server and the bench db's backends on CPU 1"
        if a.own_redis
        else ("the machine's Redis and PostgreSQL, unpinned")
    )
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    head = f"# Core share, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {where}"
    return "\n".join([head, f"load average after: {load}", "", *lines])


def main() -> int:
    a = _args()
    if not a.own_redis:
        print(measure(a, matching("redis-server")))
        return 0
    if OWN_REDIS_URL in os.environ:
        print(measure(a, [int(os.environ[OWN_REDIS_PID])]))
        return 0
    cpu = ["taskset", "-c", str(LOAD_CPU)]
    return rerun_on_own_redis("tests.bench.core_share", prefix=lambda folder: cpu)


if __name__ == "__main__":
    raise SystemExit(main())
