"""The scale-out bench's measuring half (`tests/bench/scaleout.py` starts Redis and runs
this in a process of its own, whose fixtures read that Redis at import): for each build and
each N, the bare proxy as N processes and `meterway serve` with WORKERS=N, every process
pinned to its own core, driven by one wrk in interleaved rounds; Redis's CPU and its
commands per metered request from `INFO cpu` and `INFO commandstats` on every shard."""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import redis
import uvloop

from tests.bench import fixtures
from tests.bench.__main__ import _prepare
from tests.bench.load import Run, wrk
from tests.bench.procs import (
    cpu_seconds,
    family,
    free_port,
    matching,
    pin,
    spawn,
    stop,
    wait_port,
)
from tests.bench.targets import ROOT, start_meterway
from tests.bench.upstream import Upstream, start_nginx

COMPILED = "MWBENCH_COMPILED"  # a checkout after `MW_MYPYC=1 python setup.py build_ext --inplace`
DRAIN_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Layout:
    """The cores of each role; `gateways` one per process, for the largest N. `shared`: the
    machine has too few cores for every role to have its own."""

    redis: list[int]
    postgres: int
    nginx: int
    wrk: list[int]
    gateways: list[int]
    shared: bool


@dataclass
class Figures:
    """One (build, shards, N): medians over rounds; `calls` per metered request."""

    build: str
    shards: int
    procs: int
    bare_rps: float = 0.0
    metered_rps: float = 0.0
    redis_us: float = 0.0
    calls: dict[str, float] = field(default_factory=dict)
    errors: int = 0
    nginx_busy: float = 0.0  # the most of a core nginx, and a wrk thread, used in a bare run
    wrk_busy: float = 0.0
    bare_us: float = 0.0  # the arm's processes' CPU per request
    metered_us: float = 0.0


def _children_cpu() -> float:
    """CPU seconds of the waited-for children (wrk, run to its end by load.wrk)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


@dataclass
class Rig:
    """What every N shares: the arguments, the cores, the Redis nodes, nginx, the files."""

    a: argparse.Namespace
    lay: Layout
    nodes: list[redis.Redis]
    upstream: Upstream
    work: Path
    config_dir: Path
    debits: int = 0  # in the ledger when last drained
    busy: tuple[float, float] = (0.0, 0.0)  # the last run's share of a core: nginx, a wrk thread

    def load(self, url: str, procs: int, seconds: float) -> Run:
        nginx = family(self.upstream.proc.pid)
        before, started = (cpu_seconds(nginx), _children_cpu()), time.monotonic()
        run = self._wrk(url, procs, seconds)
        wall = time.monotonic() - started
        nginx_s, wrk_s = cpu_seconds(nginx) - before[0], _children_cpu() - before[1]
        self.busy = (nginx_s / wall, wrk_s / wall / len(self.lay.wrk))
        return run

    def _wrk(self, url: str, procs: int, seconds: float) -> Run:
        return wrk(
            url,
            keys=self.work / "keys-all.txt",
            body=self.work / "body-plain.json",
            stream=False,
            connections=self.a.c * procs,
            seconds=seconds,
            cpu=",".join(str(c) for c in sorted(set(self.lay.wrk))),
            threads=len(self.lay.wrk),
        )


def build_env(build: str) -> dict[str, str]:
    """The compiled build runs from MWBENCH_COMPILED's checkout; the pure one from this tree.
    `+leases` (e.g. `pure+leases`): that build with LEASES=1 (docs/concepts/leases.md)."""
    base, _, variant = build.partition("+")
    env = {"PYTHONPATH": os.environ[COMPILED] if base == "compiled" else str(ROOT)}
    if variant == "leases":
        env["LEASES"] = "1"
    return env


def _redis_cpu(nodes: list[redis.Redis]) -> float:
    info = [n.info("cpu") for n in nodes]
    return sum(float(i["used_cpu_sys"]) + float(i["used_cpu_user"]) for i in info)


def _calls(nodes: list[redis.Redis]) -> dict[str, int]:
    out: dict[str, int] = {}
    for node in nodes:
        for name, stats in node.info("commandstats").items():
            command = name.removeprefix("cmdstat_")
            out[command] = out.get(command, 0) + int(stats["calls"])
    return out


def _drained(at_least: int) -> int:
    """The ledger's debits once there are `at_least` and they stopped moving (the settlers of
    the gateway's processes drain the streams)."""
    deadline, last = time.monotonic() + DRAIN_TIMEOUT_S, -1
    while time.monotonic() < deadline:
        debits = uvloop.run(fixtures.ledger_debits())
        if debits >= at_least and debits == last:
            return debits
        last = debits
        time.sleep(0.5)
    raise TimeoutError(f"the ledger has {last} debits, {at_least} expected, after the drain")


@dataclass(frozen=True)
class Sample:
    """One arm's run: its processes' CPU microseconds per request, Redis's (until the ledger
    caught up) and each Redis command's calls per request, the load side's share of a core."""

    run: Run
    proxy_us: float
    redis_us: float = 0.0
    calls: dict[str, float] = field(default_factory=dict)
    busy: tuple[float, float] = (0.0, 0.0)


def _bare_run(rig: Rig, url: str, pids: list[int], procs: int) -> Sample:
    before = cpu_seconds(pids)
    run = rig.load(url, procs, rig.a.seconds)
    used = cpu_seconds(pids) - before
    return Sample(run, used * 1e6 / max(run.requests, 1), busy=rig.busy)


def _metered(rig: Rig, url: str, pids: list[int], procs: int) -> Sample:
    for node in rig.nodes:
        node.config_resetstat()
    redis_before, before = _redis_cpu(rig.nodes), cpu_seconds(pids)
    run = rig.load(url, procs, rig.a.seconds)
    rig.debits = _drained(rig.debits + run.ok)
    n = max(run.requests, 1)
    calls = {k: v / n for k, v in _calls(rig.nodes).items() if k not in ("info", "config")}
    redis_us = (_redis_cpu(rig.nodes) - redis_before) * 1e6 / n
    return Sample(run, (cpu_seconds(pids) - before) * 1e6 / n, redis_us, calls)


def _bare(rig: Rig, procs: int) -> tuple[str, list[subprocess.Popen[bytes]]]:
    """N bare proxies sharing one port (SO_REUSEPORT), each pinned to a gateway core."""
    port = free_port()
    argv = [sys.executable, "-m", "tests.bench.bare_proxy", "--listen", f"127.0.0.1:{port}"]
    argv += ["--upstream", rig.upstream.url, "--reuse-port"]
    log = rig.work / "bare.log"
    started = [spawn(argv, cpu=rig.lay.gateways[i], log=log) for i in range(procs)]
    wait_port(port)
    time.sleep(0.5)  # every process bound
    return f"http://127.0.0.1:{port}", started


def _said_build(url: str) -> str:
    with urllib.request.urlopen(url + "/healthz", timeout=5) as r:
        return str(json.loads(r.read())["build"])


def _at(rig: Rig, build: str, procs: int) -> Figures:
    """Both arms at N processes, started, warmed, measured in interleaved rounds, stopped."""
    bare_url, bare = _bare(rig, procs)
    mw = start_meterway(
        rig.upstream.url, rig.config_dir, rig.work, workers=procs, extra_env=build_env(build)
    )
    try:
        said = _said_build(mw.url)
        if said != build.partition("+")[0]:
            raise SystemExit(f"asked for the {build} build, /healthz says {said}")
        for i, pid in enumerate(mw.pids()):
            pin([pid], rig.lay.gateways[i % procs])
        pin(matching(f" {fixtures.DATABASE} "), rig.lay.postgres)
        for url in (bare_url, mw.url):
            rig.load(url, procs, rig.a.warm)
        rig.debits = _drained(rig.debits)
        pids = [p.pid for p in bare]
        return _rounds(rig, build, procs, pids, mw.pids(), [bare_url, mw.url])
    finally:
        mw.close()
        for p in bare:
            stop(p)


def _median(samples: list[Sample]) -> Sample:
    return sorted(samples, key=lambda m: m.run.rps)[len(samples) // 2]


def _rounds(
    rig: Rig, build: str, procs: int, bare: list[int], mw: list[int], urls: list[str]
) -> Figures:
    """The arms one after the other, the order turned each round; the median round of each."""
    runs: dict[str, list[Sample]] = {"bare": [], "metered": []}
    for r in range(rig.a.rounds):
        for arm in ("bare", "metered") if r % 2 == 0 else ("metered", "bare"):
            if arm == "bare":
                runs[arm].append(_bare_run(rig, urls[0], bare, procs))
            else:
                runs[arm].append(_metered(rig, urls[1], mw, procs))
    b, m = _median(runs["bare"]), _median(runs["metered"])
    print(
        f"  {build}, N={procs}: bare {b.run.rps:,.0f} req/s, metered {m.run.rps:,.0f} req/s,"
        f" Redis {m.redis_us:.1f} us/req",
        flush=True,
    )
    every = [*runs["bare"], *runs["metered"]]
    return Figures(
        build,
        len(rig.nodes),
        procs,
        bare_rps=b.run.rps,
        metered_rps=m.run.rps,
        redis_us=m.redis_us,
        calls=m.calls,
        errors=sum(s.run.non2xx + s.run.socket_errors for s in every),
        nginx_busy=max(s.busy[0] for s in runs["bare"]),
        wrk_busy=max(s.busy[1] for s in runs["bare"]),
        bare_us=b.proxy_us,
        metered_us=m.proxy_us,
    )


def measure(a: argparse.Namespace, lay: Layout, builds: list[str], out: Path) -> None:
    """Every build at every N on this Redis; the figures as JSON in `out`."""
    urls = fixtures.REDIS_CLUSTER_URLS.split(",") if fixtures.REDIS_CLUSTER_URLS else []
    nodes = [redis.Redis.from_url(u) for u in urls or [fixtures.REDIS_URL]]
    figures: list[Figures] = []
    with tempfile.TemporaryDirectory(prefix="mwscale-") as tmp:
        work = Path(tmp)
        try:
            shape = argparse.Namespace(accounts=a.accounts, keys=a.keys)
            settings, _ = _prepare(work, shape)
            upstream = start_nginx(free_port(), lay.nginx)
            rig = Rig(a, lay, nodes, upstream, work, settings.config_dir)
            try:
                figures = [_at(rig, build, n) for build in builds for n in a.procs]
            finally:
                upstream.close()
        finally:
            uvloop.run(fixtures.drop_database())
    out.write_text(json.dumps([f.__dict__ for f in figures]))
