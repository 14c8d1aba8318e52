"""`python -m tests.bench.redis_cost [--ref DIR [--ref-env K=V ...]] [--rounds N] [--seconds S]
[--stream]`

Redis's CPU per metered request. Runs on a `redis-server` of its own (started here, on a
free port, no persistence, like the shared one), so the CPU and the command counts read are
this run's alone: the data of `tests/bench/fixtures.py` (100 accounts on 'pro', 4 account
windows and 2 key quotas per key), nginx, and `meterway serve` from this tree and, with
`--ref`, from another copy of `gateway/` and `billing/` on PYTHONPATH (as in
`tests.bench.ab`). Each round runs every arm at c=32 for S seconds (order alternating),
waits for the settler, and reads redis-server's CPU from /proc and `INFO commandstats`.
Per arm, medians over rounds of: Redis CPU per request (everything Redis did: scripts,
the settler's reads, sockets), EVALSHA time per request, and the commands per request
(scripts' inner commands included). Redis CPU is the steady figure on a shared machine;
EVALSHA time is wall time inside Redis and grows when the machine is busy.

`--instructions` runs that redis-server under `valgrind --tool=callgrind` and reads the
instructions Redis executed per request instead (zeroed before each arm's run, dumped
after it): a count that does not move with the machine's load, so two trees' scripts can be
compared to a fraction of a percent on a busy machine. Redis runs ~50x slower under
valgrind; the request rate is low and the CPU and EVALSHA columns mean nothing then. The
scripts' work depends on how many calls each window sees per granule (5 s): to keep the
full bench's density (~1,700 req/s over 100 accounts and 1,000 keys) at ~55 req/s, pass
`--accounts 4 --keys 32`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.bench import fixtures, phases
from tests.bench.__main__ import _cleanup, _prepare, bench
from tests.bench.procs import (
    CLK_TCK,
    OWN_REDIS_PID,
    OWN_REDIS_URL,
    callgrind,
    dumped_instructions,
    free_port,
    rerun_on_own_redis,
)
from tests.bench.profiles import QUICK
from tests.bench.targets import LOAD_CPU, Target, add_ref_env, ref_env, start_meterway
from tests.bench.upstream import start_nginx

CALLGRIND_DIR = "MWBENCH_CALLGRIND_DIR"  # set when redis-server runs under callgrind


@dataclass
class Sample:
    redis_us: float
    evalsha_us: float
    calls: dict[str, float] = field(default_factory=dict)
    instructions: float = 0.0  # per request, under --instructions


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.bench.redis_cost", description=__doc__)
    p.add_argument("--ref", type=Path, help="a copy of gateway/ and billing/ to compare with")
    add_ref_env(p)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--stream", action="store_true", help="streamed calls instead of plain")
    p.add_argument("--accounts", type=int, default=100)
    p.add_argument("--keys", type=int, default=1000, help="keys in all (spread over accounts)")
    p.add_argument(
        "--instructions", action="store_true", help="Redis instructions per request (callgrind)"
    )
    return p.parse_args()


def _redis_cpu(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    ticks = stat[stat.rindex(")") + 2 :].split()
    return (int(ticks[11]) + int(ticks[12])) / CLK_TCK


def _sample(
    client: redis.Redis, pid: int, b: phases.Bench, t: Target, a: argparse.Namespace
) -> Sample:
    time.sleep(3.0 if a.instructions else 1.0)  # the settler drains the previous arm's
    client.config_resetstat()
    if a.instructions:
        callgrind(pid, "-z")
    before = _redis_cpu(pid)
    run = b.load(t, stream=a.stream, c=32, seconds=a.seconds)
    time.sleep(6.0 if a.instructions else 1.5)  # settlements and the settler's reads finish
    used = _redis_cpu(pid) - before
    ins = (
        dumped_instructions(pid, Path(os.environ[CALLGRIND_DIR])) / max(run.requests, 1)
        if a.instructions
        else 0.0
    )
    stats = client.info("commandstats")
    n = max(run.requests, 1)
    calls = {k.removeprefix("cmdstat_"): int(v["calls"]) / n for k, v in stats.items()}
    evalsha = int(stats.get("cmdstat_evalsha", {}).get("usec", 0)) / n
    shown = f", {ins:,.0f} instructions/req" if a.instructions else ""
    print(f"  {t.name}: {run.rps:,.0f} req/s, Redis {used * 1e6 / n:.1f} us/req{shown}", flush=True)
    return Sample(used * 1e6 / n, evalsha, calls, ins)


def _table(samples: dict[str, list[Sample]], a: argparse.Namespace) -> str:
    mode = phases.MODES[a.stream]
    lines = [
        f"{mode} c=32, own redis-server, median of {a.rounds} rounds of {a.seconds:g}s:",
        "",
        "| arm | Redis CPU us / req | EVALSHA us / req | Redis commands / req "
        "| Redis instructions / req |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, rows in samples.items():
        cpu = statistics.median(s.redis_us for s in rows)
        ev = statistics.median(s.evalsha_us for s in rows)
        cmds = statistics.median(sum(v for k, v in s.calls.items() if k != "evalsha") for s in rows)
        ins = statistics.median(s.instructions for s in rows)
        shown = f"{ins:,.0f}" if a.instructions else "-"
        lines.append(f"| {name} | {cpu:.1f} | {ev:.1f} | {cmds:.1f} | {shown} |")
    for name, rows in samples.items():
        top = sorted(rows[-1].calls.items(), key=lambda kv: -kv[1])
        lines.append(
            f"\n{name}, commands per request (last round): "
            + ", ".join(f"{k} {v:.2f}" for k, v in top if v >= 0.05)
        )
    return "\n".join(lines)


def measure(a: argparse.Namespace, pid: int) -> str:
    samples: dict[str, list[Sample]] = {}
    client = redis.Redis.from_url(fixtures.REDIS_URL)
    with tempfile.TemporaryDirectory(prefix="mwbench-") as tmp, _cleanup(False):
        work = Path(tmp)
        settings, _ = _prepare(work, argparse.Namespace(accounts=a.accounts, keys=a.keys))
        upstream = start_nginx(free_port(), LOAD_CPU)
        arms = [start_meterway(upstream.url, settings.config_dir, work)]
        arms[0].name = "this tree"
        if a.ref:
            env = ref_env(a.ref, a.ref_env)  # see targets.ref_env
            arms.append(start_meterway(upstream.url, settings.config_dir, work, extra_env=env))
            arms[1].name = f"ref {a.ref}"
        b = bench(QUICK, work, upstream.url, Target("direct", upstream.url), arms[0])
        try:
            for t in arms:
                b.warm(t)
            for r in range(a.rounds):
                for t in arms if r % 2 == 0 else arms[::-1]:
                    samples.setdefault(t.name, []).append(_sample(client, pid, b, t, a))
        finally:
            for t in arms:
                t.close()
            upstream.close()
    return _table(samples, a)


def main() -> int:
    """Starts a redis-server and runs itself again against it, then stops it."""
    if OWN_REDIS_URL in os.environ:
        print(measure(_args(), int(os.environ[OWN_REDIS_PID])))
        return 0
    a = _args()

    def under_callgrind(folder: str) -> list[str]:
        return ["valgrind", "--tool=callgrind", f"--callgrind-out-file={folder}/cg.%p"]

    return rerun_on_own_redis(
        "tests.bench.redis_cost",
        prefix=under_callgrind if a.instructions else lambda folder: [],
        env=lambda folder: {CALLGRIND_DIR: folder},
        timeout_s=60.0 if a.instructions else 20.0,
    )


if __name__ == "__main__":
    raise SystemExit(main())
