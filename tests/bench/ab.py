"""`python -m tests.bench.ab --ref DIR [--ref-env K=V ...] [--stream] [--c N | --latency]
[--settler apart] ...`

Before/after in one run: the bare proxy, `meterway serve` from this tree and `meterway serve`
from another copy of the code (DIR holds its `gateway/` and `billing/`, e.g. made with
`git archive <commit> gateway billing | tar -x -C DIR`), on the same database, Redis and
nginx. Each round runs all three at c=32 (`--c`) one after the other, so load from others
hits every arm alike; per arm the median over rounds of req/s and of CPU ms per 1,000
requests (from /proc), each also as a ratio to the bare proxy of the same run. The
comparison to judge a change by on a shared machine, where absolute figures move by +-20%.
`--ref-env K=V` sets the ref arm's environment; see `targets.ref_env` for when it is needed.
`--latency`: c=1 instead, each round every arm after the direct call to nginx; per arm the
median over rounds of wrk's p50 added over the direct call's, and as a ratio to the bare
proxy's own added p50 (the issue 61 figure).
`--settler apart`: the two Meterway arms run with their settlers off and one `meterway
settler` writes the ledger for both; a Meterway arm's CPU is its own plus the settler's
during its run. By default each arm settles in process, and as both stay up all along their
settlers share one consumer group: an arm's CPU then also carries rows the other arm queued
(even shares when the two queue alike; not when one path settles in batches, as leases do).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

from tests.bench import fixtures, phases
from tests.bench.__main__ import _cleanup, _prepare, bench
from tests.bench.procs import free_port
from tests.bench.profiles import QUICK
from tests.bench.targets import (
    LOAD_CPU,
    Target,
    add_ref_env,
    ref_config,
    ref_env,
    start_bare,
    start_meterway,
    start_settler,
)
from tests.bench.upstream import start_nginx


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.bench.ab", description=__doc__)
    p.add_argument("--ref", type=Path, required=True, help="a copy of gateway/ and billing/")
    add_ref_env(p)
    p.add_argument("--stream", action="store_true", help="streamed calls too")
    p.add_argument("--c", type=int, default=32, help="wrk connections")
    p.add_argument("--latency", action="store_true", help="c=1 added p50 instead")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--accounts", type=int, default=100)
    p.add_argument("--keys", type=int, default=1000)
    p.add_argument(
        "--settler",
        choices=("in-process", "apart"),
        default="in-process",
        help="apart: one settler for both Meterway arms, its CPU charged to the arm it ran in",
    )
    return p.parse_args()


def _measured(
    b: phases.Bench, t: Target, settler: Target | None, **kw: object
) -> tuple[float, float]:
    """req/s and CPU ms per 1,000 requests: the arm's, plus what `settler` (if any) used
    over the same run."""
    before = settler.cpu() if settler else 0.0
    run, cpu = phases._measured(b, t, **kw)
    if settler is not None and run.requests:
        cpu += (settler.cpu() - before) * 1e6 / run.requests
    return run.rps, cpu


def _compare(
    b: phases.Bench,
    arms: list[Target],
    stream: bool,
    args: argparse.Namespace,
    settler: Target | None = None,
) -> str:
    """`settler`'s CPU is charged to the Meterway arms (arms[1:]), never to the bare proxy."""
    rounds, secs, c = args.rounds, args.seconds, args.c
    runs: dict[str, list[tuple[float, float]]] = {t.name: [] for t in arms}
    for _ in range(rounds):
        for n, t in enumerate(arms):
            charged = settler if n else None
            runs[t.name].append(_measured(b, t, charged, stream=stream, c=c, seconds=secs))
    med = {
        name: (statistics.median(r for r, _ in v), statistics.median(cpu for _, cpu in v))
        for name, v in runs.items()
    }
    bare_rps, bare_cpu = med[arms[0].name]
    settled = "one settler apart, charged to each arm" if settler else "settlers in process"
    lines = [
        f"{phases.MODES[stream]} c={c}, median of {rounds} rounds of {secs:g}s ({settled}):",
        "",
        "| arm | req/s | / bare | CPU ms / 1k req | / bare |",
        "|---|---:|---:|---:|---:|",
    ]
    for t in arms:
        rps, cpu = med[t.name]
        lines.append(
            f"| {t.name} | {rps:,.0f} | {rps / bare_rps:.2f} | {cpu:,.0f} | {cpu / bare_cpu:.2f}x |"
        )
    return "\n".join(lines)


def _latency(b: phases.Bench, arms: list[Target], stream: bool, args: argparse.Namespace) -> str:
    b.d = dataclasses.replace(b.d, latency_rounds=args.rounds, latency_s=args.seconds)
    rounds = phases._c1_rounds(b, (b.direct, *arms), stream)
    direct = rounds.median(b.direct.name, "p50_ms")
    added = {t.name: rounds.median(t.name, "p50_ms") - direct for t in arms}
    lines = [
        f"{phases.MODES[stream]} c=1, p50 added over the direct call ({direct:.3f} ms), "
        f"median of {args.rounds} rounds of {args.seconds:g}s:",
        "",
        "| arm | added p50 (ms) | / bare |",
        "|---|---:|---:|",
    ]
    bare = added[arms[0].name]
    lines += [f"| {t.name} | {added[t.name]:.3f} | {added[t.name] / bare:.2f}x |" for t in arms]
    return "\n".join(lines)


def main() -> int:
    args = _args()
    load = Path("/proc/loadavg").read_text().split()[:3]
    with tempfile.TemporaryDirectory(prefix="mwbench-") as tmp, _cleanup(False):
        work = Path(tmp)
        settings, _ = _prepare(work, args)
        upstream = start_nginx(free_port(), LOAD_CPU)
        apart = args.settler == "apart"
        off = {"SETTLER_DISABLED": "1"} if apart else {}
        bare = start_bare(upstream.url, work)
        new = start_meterway(upstream.url, settings.config_dir, work, extra_env=off)
        new.name = "meterway (this tree)"
        ref = start_meterway(
            upstream.url,
            ref_config(work / "ref-config", settings.config_dir, args.ref),
            work,
            extra_env={**ref_env(args.ref, args.ref_env), **off},
        )
        ref.name = f"meterway ({args.ref} {' '.join(args.ref_env)})".replace(" )", ")")
        settler = start_settler(upstream.url, settings.config_dir, work) if apart else None
        arms = [bare, new, ref]
        b = bench(QUICK, work, upstream.url, bare, new)
        try:
            for t in arms:
                b.warm(t)
            tables = [
                _latency(b, arms, stream, args)
                if args.latency
                else _compare(b, arms, stream, args, settler)
                for stream in ((False, True) if args.stream else (False,))
            ]
        finally:
            for t in [*arms, settler] if settler else arms:
                t.close()
            upstream.close()
    after = Path("/proc/loadavg").read_text().split()[:3]
    print(f"# A/B, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {fixtures.DATABASE}")
    print(f"load average before/after: {' '.join(load)} / {' '.join(after)}\n")
    print("\n\n".join(tables))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
