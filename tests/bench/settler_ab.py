"""`python -m tests.bench.settler_ab --ref DIR [--rounds N] [--seconds S]`

The settler's CPU per request, this tree against another copy of the code (DIR, as for
`tests.bench.ab`). One `meterway serve` with `SETTLER_DISABLED=1` (from DIR; the gateway is
not what is compared) takes plain c=32 load, and a `meterway settler` process beside it
writes the ledger: each round starts this tree's settler and DIR's one after the other (the
order alternating), each alone, and reads its CPU from /proc from the start of its load to
1 s after it (the last batch written). Per arm the median CPU us per request over rounds.
The settler floats over both CPUs like Redis and PostgreSQL, as in the bench's "settler in
its own process" row. In-process, the gateway spends the same work on its own core.
The gateway from DIR queues the messages, so both settlers read DIR's message form (this
tree reads the older named fields too): a change of the form itself is measured by
`tests.bench.settlers [--named]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tests.bench import fixtures, phases
from tests.bench.__main__ import _cleanup, _prepare, bench
from tests.bench.procs import cpu_seconds, free_port, spawn, stop
from tests.bench.profiles import QUICK
from tests.bench.targets import LOAD_CPU, gateway_env, start_bare, start_meterway
from tests.bench.upstream import start_nginx

START_S = 3.0  # a settler's imports and first reads, before its CPU is counted
TAIL_S = 1.0  # after the load: the batch it was lingering over is written


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.bench.settler_ab", description=__doc__)
    p.add_argument("--ref", type=Path, required=True, help="a copy of gateway/ and billing/")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--accounts", type=int, default=100)
    p.add_argument("--keys", type=int, default=1000)
    return p.parse_args()


def _one(b: phases.Bench, env: dict[str, str], log: Path, seconds: float) -> tuple[float, float]:
    """(req/s, settler CPU us per request) of one settler process over one load."""
    argv = [str(Path(sys.executable).with_name("meterway")), "settler"]
    proc = spawn(argv, cpu=None, log=log, env=env)
    try:
        time.sleep(START_S)
        before = cpu_seconds([proc.pid])
        run = b.load(b.mw, stream=False, c=32, seconds=seconds)
        time.sleep(TAIL_S)
        used = cpu_seconds([proc.pid]) - before
    finally:
        stop(proc)
    return run.rps, used * 1e6 / max(run.requests, 1)


def main() -> int:
    args = _args()
    ref = str(args.ref.resolve())
    load = Path("/proc/loadavg").read_text().split()[:3]
    runs: dict[str, list[tuple[float, float]]] = {"this tree": [], str(args.ref): []}
    with tempfile.TemporaryDirectory(prefix="mwbench-") as tmp, _cleanup(False):
        work = Path(tmp)
        settings, _ = _prepare(work, args)
        upstream = start_nginx(free_port(), LOAD_CPU)
        bare = start_bare(upstream.url, work)
        gateway = start_meterway(
            upstream.url,
            settings.config_dir,
            work,
            extra_env={"SETTLER_DISABLED": "1", "PYTHONPATH": ref},
        )
        gateway.name = "meterway-apart"
        b = bench(QUICK, work, upstream.url, bare, gateway)
        try:
            b.warm(gateway)
            for r in range(args.rounds):
                names = list(runs) if r % 2 == 0 else list(reversed(runs))
                for name in names:
                    env = gateway_env(upstream.url, free_port(), settings.config_dir, 1)
                    if name != "this tree":
                        env["PYTHONPATH"] = ref
                    runs[name].append(_one(b, env, work / "settler.log", args.seconds))
        finally:
            for t in (bare, gateway):
                t.close()
            upstream.close()
    after = Path("/proc/loadavg").read_text().split()[:3]
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"# settler A/B, {when}, {fixtures.DATABASE}")
    print(f"load average before/after: {' '.join(load)} / {' '.join(after)}\n")
    print(f"plain c=32, {args.rounds} rounds of {args.seconds:g}s, medians:\n")
    print("| settler | gateway req/s | settler CPU us / req | rounds |")
    print("|---|---:|---:|---|")
    for name, v in runs.items():
        rps, cpu = statistics.median(r for r, _ in v), statistics.median(c for _, c in v)
        each = ", ".join(f"{c:.0f}" for _, c in v)
        print(f"| {name} | {rps:,.0f} | {cpu:.1f} | {each} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
