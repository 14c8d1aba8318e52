"""`python -m tests.bench.speed_guard [--compiled TREE] [--update]`: CI's guard on the hot path.

Counts machine instructions per proxied request (callgrind, as `tests.bench.gateway_cost`
does) for the bare pass-through proxy and for `meterway serve` on the full metered path (key
auth, every window of the `pro` plan and two key quotas checked and reserved, pricing,
settlement; the settler is off: it runs off the hot path), plain and streamed, and compares
Meterway / bare with `speed_baseline.json` (its `compiled` section when the hot path runs as
the compiled build, setup.py). `--compiled TREE` measures the compiled build laid beside
TREE's sources too, in the same run, against the same bare proxy. Exits 1, naming the
figure, when a ratio grew by more than the baseline's threshold; `--update` writes the new
figures as the baseline.

The count is steady (~1% between runs on a busy machine) because the load is: one client
sends batches of requests one after another (no concurrency to batch differently from run to
run), PYTHONHASHSEED is fixed, what the process does idle per second is subtracted for each
batch's duration, and the cheapest batch is kept. A ratio to the bare proxy measured in the
same run, not an absolute count, is kept, so that a newer aiohttp or Python moves both arms
together.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvloop

from tests.bench import fixtures
from tests.bench.__main__ import _settings
from tests.bench.load import chat_body
from tests.bench.procs import callgrind, dumped_instructions, free_port, stop, wait_port
from tests.bench.targets import gateway_env, wait_http
from tests.bench.upstream import MODEL

BASELINE = Path(__file__).with_name("speed_baseline.json")
ROOT = Path(__file__).resolve().parents[2]
PATHS = {"plain": False, "stream": True}
BARE = "tests.bench.bare_proxy"
METERWAY = "gateway.cli.main:main"
START_TIMEOUT_S = 600.0
VERBOSE = bool(os.environ.get("MWGUARD_VERBOSE"))
# The settler, the self-restore watcher, the sweeper and the background-response poller run
# beside the requests, not in them. The last two are slowed to once an hour: the sweeper's
# 6.5M instructions every 5 s fell in every batch on a busy machine (batches last longer
# there), ~170k instructions a request over; the poller's 850k a second idle is halved on a
# busy machine (each poll takes longer), so the idle rate subtracted was off by as much.
# The same holds for every periodic job a process runs with no request to serve (BYOK keys
# read again, the anomaly round, the notifier, the exporters, the price desk): each tick is a
# few hundred thousand instructions, and on a loaded machine every batch spans one (an idle
# 89k/s, batches 1.21-1.34M a request), so the cheapest batch no longer leaves them out.
OFF_THE_HOT_PATH = {
    "SETTLER_DISABLED": "1",
    "SELF_RESTORE": "0",
    "SWEEP_INTERVAL_S": "3600",
    "RESPONSE_POLL_INTERVAL_S": "3600",
    "BYOK_REFRESH_S": "3600",
    "ANOMALY_EVERY_S": "3600",
    "NOTIFY_INTERVAL_S": "3600",
    "EXPORT_INTERVAL_S": "3600",
    "PRICE_CHANGE_LEAD_S": "7200",
    "PRICE_CHANGE_POLL_S": "3600",
}
# MWGUARD_END_USERS=1: a third level of budgets, the account's default end-user budget, and
# every request naming its end user (`user`), to measure what end-user budgets cost.
END_USERS = bool(os.environ.get("MWGUARD_END_USERS"))


@dataclass
class Arm:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    folder: Path
    secret: str | None = None


def _body(stream: bool) -> bytes:
    body = chat_body(MODEL, stream)
    if END_USERS:
        body["user"] = "bench-end-user"
    return json.dumps(body).encode()


def _argv(target: str, args: list[str]) -> list[str]:
    """`python -m module args`, or for `module:function` the console script of that name."""
    if target == METERWAY:
        return [sys.executable, str(Path(sys.executable).with_name("meterway")), *args]
    return [sys.executable, "-m", target, *args]


def _under_callgrind(
    folder: Path, target: str, args: list[str], env: dict[str, str], port: int, name: str
) -> Arm:
    """target under callgrind with instrumentation off until measured (start-up runs ~5x
    faster that way)."""
    folder.mkdir()
    cg = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
    cg.append(f"--callgrind-out-file={folder}/cg.%p")
    log = (folder / "out.log").open("ab")
    env = {**env, "PYTHONHASHSEED": "0"}
    argv = [*cg, *_argv(target, args)]
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    return Arm(name, port, proc, folder)


def _wait(arm: Arm, ready_path: str | None) -> None:
    """Until arm answers (its ready_path, when given)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        wait_port(arm.port, timeout_s=START_TIMEOUT_S)
        if ready_path:
            wait_http(f"http://127.0.0.1:{arm.port}{ready_path}", deadline - time.monotonic())
    except TimeoutError:
        tail = (arm.folder / "out.log").read_text()[-3000:]
        raise RuntimeError(f"{arm.name} did not start:\n{tail}") from None


def _send(arm: Arm, stream: bool, n: int) -> None:
    """n requests on one keep-alive connection, each read to its end."""
    headers = {"content-type": "application/json"}
    if arm.secret:
        headers["authorization"] = f"Bearer {arm.secret}"
    body = _body(stream)
    conn = http.client.HTTPConnection("127.0.0.1", arm.port, timeout=120)
    try:
        for _ in range(n):
            conn.request("POST", "/v1/chat/completions", body, headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                raise RuntimeError(f"{arm.name} answered {resp.status}")
    finally:
        conn.close()


def _idle_rate(arm: Arm, samples: int = 7) -> float:
    """Instructions per second of the process with nothing to serve (its 1-second timers),
    the median of 1-second stretches."""
    rates = []
    for _ in range(samples):
        callgrind(arm.proc.pid, "-z")
        began = time.monotonic()
        time.sleep(1.0)
        rates.append(dumped_instructions(arm.proc.pid, arm.folder) / (time.monotonic() - began))
    return statistics.median(rates)


def send(arm: Arm, stream: bool, n: int) -> None:
    """n requests of the path on one keep-alive connection (`tests.bench.by_function`)."""
    _send(arm, stream, n)


def _per_request(arm: Arm, stream: bool, n: int, batches: int) -> float:
    """The least over batches of (instructions of n requests - the idle rate times their
    duration) / n. A periodic job only ever adds to a batch, so the cheapest batch is one
    that missed it."""
    _send(arm, stream, 10)  # the first calls of a path load and warm what it uses
    callgrind(arm.proc.pid, "--instr=on")
    idle = _idle_rate(arm)
    samples = []
    for _ in range(batches):
        callgrind(arm.proc.pid, "-z")
        began = time.monotonic()
        _send(arm, stream, n)
        took = time.monotonic() - began
        samples.append((dumped_instructions(arm.proc.pid, arm.folder) - idle * took) / n)
    if VERBOSE:
        print(f"  {arm.name} idle {idle:,.0f}/s, batches:", [round(s) for s in samples])
    return min(samples)


Start = Callable[[Path, str, list[str], dict[str, str], int, str], Arm]


@contextlib.contextmanager
def arms(
    work: Path, start: Start = _under_callgrind, hot_path_only: bool = True
) -> Iterator[tuple[Arm, Arm]]:
    """The bare proxy and `meterway serve` (the settler off unless not hot_path_only), each
    started by `start`, before a fixed provider, with one populated key."""
    with builds(work, {build(): None}, start, hot_path_only) as (bare, served):
        yield bare, served[build()]


@contextlib.contextmanager
def builds(
    work: Path,
    trees: dict[str, Path | None],
    start: Start = _under_callgrind,
    hot_path_only: bool = True,
) -> Iterator[tuple[Arm, dict[str, Arm]]]:
    """The bare proxy and one `meterway serve` per build, by name: the build this process
    imports (a tree of None), or the compiled build beside the sources of another tree
    (`build_ext --inplace`, as the suite's compiled pass lays it out). One key, one database
    and one Redis prefix serve them all; they are measured one after another."""
    settings = fixtures.bench_config(work / "config")

    async def populate() -> str:
        await fixtures.drop_prefix()
        await fixtures.fresh_database()
        pop = await fixtures.populate(_settings(settings), 1, 1, end_users=END_USERS)
        return pop.secrets[0]

    secret = uvloop.run(populate())
    up_port = free_port()
    upstream = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.fixed_upstream", "--port", str(up_port)]
    )
    started: list[Arm] = []
    try:
        wait_port(up_port)
        url = f"http://127.0.0.1:{up_port}"
        port = free_port()
        args = ["--listen", f"127.0.0.1:{port}", "--upstream", url]
        bare = start(work / "bare", BARE, args, {**os.environ}, port, "bare proxy")
        started.append(bare)
        served: dict[str, Arm] = {}
        for name, tree in trees.items():
            port = free_port()
            env = gateway_env(url, port, settings, 1)
            env.update(OFF_THE_HOT_PATH if hot_path_only else {})
            env.update(_imports_from(tree, env))
            served[name] = start(work / name, METERWAY, ["serve"], env, port, name)
            served[name].secret = secret
            started.append(served[name])
        _wait(bare, None)
        for arm in served.values():
            _wait(arm, "/readyz")
        yield bare, served
    finally:
        for arm in started:
            stop(arm.proc)
        stop(upstream)
        uvloop.run(fixtures.drop_prefix())
        uvloop.run(fixtures.drop_database())


def _imports_from(tree: Path | None, env: dict[str, str]) -> dict[str, str]:
    """The environment that makes `meterway` import the build in `tree`. The compiled
    build's shared module (`build_ext --inplace`) sits at a tree's root, which the
    `meterway` script does not have on its path: for this process's own build, its root
    goes after what PYTHONPATH already names; for another tree, that tree alone."""
    if tree is None:
        return {"PYTHONPATH": os.pathsep.join(filter(None, [env.get("PYTHONPATH"), str(ROOT)]))}
    return {"PYTHONPATH": str(tree), "MW_MYPYC": "1"}


def measure(
    n: int, batches: int, trees: dict[str, Path | None] | None = None
) -> dict[str, dict[str, dict[str, float]]]:
    """Per build, per path: the bare proxy's and Meterway's instructions per request and
    their ratio. The bare proxy is measured once a path and shared by every build."""
    trees = trees or {build(): None}
    figures: dict[str, dict[str, dict[str, float]]] = {name: {} for name in trees}
    with (
        tempfile.TemporaryDirectory(prefix="mwguard-") as tmp,
        builds(Path(tmp), trees) as (
            bare,
            served,
        ),
    ):
        for path, stream in PATHS.items():
            b = _per_request(bare, stream, n, batches)
            for name, arm in served.items():
                m = _per_request(arm, stream, n, batches)
                figures[name][path] = {
                    "bare": round(b),
                    "meterway": round(m),
                    "ratio": round(m / b, 4),
                }
                print(
                    f"{name} {path}: bare {b:,.0f}, meterway {m:,.0f} per request: {m / b:.4f}x",
                    flush=True,
                )
    return figures


def build() -> str:
    """`compiled` when the hot path imports as mypyc's modules (setup.py, `MW_MYPYC=1`), else
    `pure`: each build has its own baseline, since the compiled one costs less."""
    from gateway.build import build as which

    return which()


def baseline_of(whole: dict[str, Any], kind: str) -> dict[str, Any]:
    """The figures the build is held to: the file's top level for the pure build, its
    `compiled` section for the compiled one (with the same threshold; the pure build's
    figures while there is none)."""
    if kind == "pure" or kind not in whole:
        return whole
    return {"threshold": whole["threshold"], **whole[kind]}


def verdict(figures: dict[str, dict[str, float]], baseline: dict[str, object]) -> list[str]:
    """One line per path whose ratio grew past the threshold."""
    threshold = float(baseline["threshold"])  # type: ignore[arg-type]
    failures = []
    for path, got in figures.items():
        base = baseline[path]
        assert isinstance(base, dict)
        growth = got["ratio"] / base["ratio"] - 1
        if growth > threshold:
            failures.append(
                f"{path} chat completion: {got['ratio']:.3f}x the bare proxy "
                f"({got['meterway']:,.0f} instructions/request) against the baseline's "
                f"{base['ratio']:.3f}x ({base['meterway']:,.0f}): +{growth:.1%}, over "
                f"{threshold:.0%}"
            )
    return failures


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m tests.bench.speed_guard", description=__doc__)
    p.add_argument("--requests", type=int, default=60, help="requests per batch")
    p.add_argument("--batches", type=int, default=9)
    p.add_argument("--update", action="store_true", help="write these figures as the baseline")
    p.add_argument(
        "--compiled",
        type=Path,
        metavar="TREE",
        help="also measure the compiled build beside TREE's sources, in the same run",
    )
    a = p.parse_args()
    whole = json.loads(BASELINE.read_text()) if BASELINE.exists() else {"threshold": 0.03}
    trees: dict[str, Path | None] = {build(): None}
    if a.compiled:
        trees["compiled"] = a.compiled.resolve()
    print(f"the {' and the '.join(trees)} build", flush=True)
    measured = measure(a.requests, a.batches, trees)
    if a.update:
        for kind, figures in measured.items():
            whole = {**whole, **figures} if kind == "pure" else {**whole, kind: figures}
        BASELINE.write_text(json.dumps(whole, indent=2) + "\n")
        print(f"wrote the {', '.join(measured)} build's figures to {BASELINE}")
        return 0
    failures = [
        f"the {kind} build's {line}"
        for kind, figures in measured.items()
        for line in verdict(figures, baseline_of(whole, kind))
    ]
    for line in failures:
        print(f"SLOWER: {line}")
    if failures:
        print("If the cost is wanted, run `python -m tests.bench.speed_guard --update` and commit")
        print("the new tests/bench/speed_baseline.json in the same change.")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
