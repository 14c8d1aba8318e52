"""`python -m tests.bench.gateway_cost [--ref DIR] [--also-env K=V] [--rounds N] [--seconds S] ...`

Machine instructions per request, of the bare proxy and of `meterway serve` (this tree and,
with each `--ref`, another copy of `gateway/` and `billing/` on PYTHONPATH, as in `tests.bench.ab`),
each under `valgrind --tool=callgrind`. Per sample: counters zeroed, S seconds idle, dumped;
zeroed again, S seconds of wrk load, dumped; (load - idle) / requests. Subtracting the idle
run takes out what runs whatever the load (timers, watchdogs, supervised tasks), which the
few requests valgrind lets through would otherwise carry. Everything else the process does
is counted: handler, aiohttp, the lean Redis client, allocation, the garbage collector; not
the kernel's side of its sockets, and not the settler (off here: `SETTLER_DISABLED=1`; its
own A/B is `tests.bench.settler_ab`).

Why: CPU time per request on this shared 2-vCPU machine moves by +-20% between rounds when
anything else runs; this count moves by ~0.1% for the bare proxy and ~1-2% for Meterway, so
a change of a few percent in the hot path can be judged while other work runs. One hot key
by default (`--rotate`: the 1,000 keys, whose first uses look keys up and drift the first
rounds). Under valgrind a process runs ~50x slower: c=16 keeps requests far from the
gateway's own timeouts, start-up takes a minute or two, and req/s means nothing here.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.bench import phases
from tests.bench.__main__ import _cleanup, _prepare, bench
from tests.bench.procs import callgrind, dumped_instructions, free_port, wait_port
from tests.bench.profiles import QUICK
from tests.bench.targets import LOAD_CPU, Target, gateway_env, ref_config, wait_http
from tests.bench.upstream import start_nginx


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.bench.gateway_cost", description=__doc__)
    p.add_argument(
        "--ref",
        type=Path,
        action="append",
        default=[],
        help="a copy of gateway/ and billing/ to compare with (repeat for several)",
    )
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument(
        "--rotate", action="store_true", help="1,000 rotating keys instead of one hot key"
    )
    p.add_argument("--c", type=int, default=16, help="wrk connections")
    p.add_argument("--stream", action="store_true", help="streamed calls instead of plain")
    p.add_argument(
        "--also-env",
        action="append",
        default=[],
        metavar="K=V",
        help="one more arm of this tree with K=V in its environment (e.g. LEASES=1)",
    )
    return p.parse_args()


def _start(folder: Path, argv: list[str], env: dict[str, str], port: int, name: str) -> Target:
    """argv under callgrind (one output file per dump, in its own folder), once it answers."""
    folder.mkdir()
    cg = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={folder}/cg.%p"]
    log = (folder / "out.log").open("ab")
    proc = subprocess.Popen([*cg, *argv], stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 300.0
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            wait_port(port, timeout_s=5.0)
            break
        except TimeoutError:
            continue
    else:
        proc.kill()
        tail = (folder / "out.log").read_text()[-3000:]
        raise RuntimeError(f"{name} did not start listening:\n{tail}")
    return Target(name, f"http://127.0.0.1:{port}", proc)


def _bare(folder: Path, upstream: str) -> Target:
    port = free_port()
    argv = [sys.executable, "-m", "tests.bench.bare_proxy", "--listen", f"127.0.0.1:{port}"]
    return _start(folder, [*argv, "--upstream", upstream], dict(os.environ), port, "bare proxy")


def _meterway(
    folder: Path, upstream: str, config: Path, extra: dict[str, str], name: str
) -> Target:
    """`meterway serve` with the settler off: its work has its own A/B (`settler_ab`)."""
    port = free_port()
    env = {**gateway_env(upstream, port, config, 1), "SETTLER_DISABLED": "1", **extra}
    argv = [sys.executable, str(Path(sys.executable).with_name("meterway")), "serve"]
    t = _start(folder, argv, env, port, name)
    wait_http(t.url + "/readyz", timeout_s=300.0)
    return t


def _sample(b: phases.Bench, t: Target, folder: Path, a: argparse.Namespace) -> float:
    """(instructions under load - instructions of as long idle) / requests: the timers that
    run whatever the load (heartbeats, watchdogs, supervised tasks) would otherwise be
    charged to the few requests valgrind lets through."""
    assert t.proc is not None
    callgrind(t.proc.pid, "-z")
    time.sleep(a.seconds)
    idle = dumped_instructions(t.proc.pid, folder)
    callgrind(t.proc.pid, "-z")
    run = b.load(t, stream=a.stream, c=a.c, seconds=a.seconds, hot=not a.rotate)
    ins = (dumped_instructions(t.proc.pid, folder) - idle) / max(run.requests, 1)
    print(f"  {t.name}: {run.requests} requests, {ins:,.0f} instructions/req", flush=True)
    return ins


def main() -> int:
    a = _args()
    samples: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="mwbench-") as tmp, _cleanup(False):
        work = Path(tmp)
        settings, _ = _prepare(work, argparse.Namespace(accounts=100, keys=1000))
        upstream = start_nginx(free_port(), LOAD_CPU)
        config = settings.config_dir
        arms: list[Target] = []
        try:
            arms.append(_bare(work / "cg-0", upstream.url))
            arms.append(_meterway(work / "cg-1", upstream.url, config, {}, "meterway (this tree)"))
            for i, pair in enumerate(a.also_env, start=len(arms)):
                key, _, value = pair.partition("=")
                name = f"meterway (this tree, {pair})"
                arms.append(_meterway(work / f"cg-{i}", upstream.url, config, {key: value}, name))
            for i, ref in enumerate(a.ref, start=len(arms)):
                env = {"PYTHONPATH": str(ref.resolve())}
                name = f"meterway ({ref})"
                own = ref_config(work / f"config-{i}", config, ref)
                arms.append(_meterway(work / f"cg-{i}", upstream.url, own, env, name))
            b = bench(QUICK, work, upstream.url, arms[0], arms[1])
            for t in arms:
                b.load(t, stream=a.stream, c=8, seconds=5.0)  # warm: first calls load modules
            for r in range(a.rounds):
                for i, t in enumerate(arms) if r % 2 == 0 else list(enumerate(arms))[::-1]:
                    sample = _sample(b, t, work / f"cg-{i}", a)
                    samples.setdefault(t.name, []).append(sample)
        finally:
            for t in arms:
                t.close()
            upstream.close()
    mode = phases.MODES[a.stream]
    print(f"\n{mode} c={a.c}, gateway instructions per request (callgrind), {a.rounds} rounds:\n")
    print("| arm | median | / bare proxy | min | max |\n|---|---:|---:|---:|---:|")
    base = statistics.median(samples[arms[0].name])
    for name, rows in samples.items():
        med = statistics.median(rows)
        print(f"| {name} | {med:,.0f} | {med / base:.2f}x | {min(rows):,.0f} | {max(rows):,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
