"""`python -m tests.bench.by_function [--requests N] [--settler] [--top N]`: where a plain and a
streamed request's work goes, by module and function, for the bare proxy and Meterway.

Each arm runs under `tests.bench.sampled` (a CPU-time sampler of the Python stacks: callgrind
cannot name Python functions, and Python 3.11 has no perf trampoline), driven like the speed
guard (one client, N sequential requests on one connection, the settler off unless
`--settler`). A sample goes to the innermost frame of `gateway/` or `billing/` on its stack
(time in aiohttp, json, tiktoken or the socket that Meterway's code called is that code's), or
to the library frame at the top of the stack when none is there (the server and the event
loop, shared with the bare proxy). Shares become instructions with the speed guard's counts
per request (`speed_baseline.json`'s for the build that runs, or `--plain N --stream N` from
a fresh guard run): the sampler gives where, callgrind gives how much.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from tests.bench.speed_guard import BASELINE, PATHS, Arm, arms, baseline_of, build, send

OWN = ("/gateway/", "/billing/")
# Frames at the root of every stack (the command and the loop it runs): not where work goes.
ROOTS = ("gateway/runtime", "gateway/cli/")
# Meterway's modules by what they do for a request; the first prefix that matches wins.
AREAS = (
    ("gateway/llm/relay", "stream relay (per chunk)"),
    ("gateway/llm/sse", "stream relay (per chunk)"),
    ("gateway/llm/bounded", "stream relay (per chunk)"),
    ("billing/stream_tally", "stream relay (per chunk)"),
    ("billing/final_event", "stream relay (per chunk)"),
    ("gateway/llm/cost_field", "cost in the answer"),
    ("gateway/llm/http1", "provider call (lean HTTP/1.1 client)"),
    ("gateway/llm/upstream", "provider call (lean HTTP/1.1 client)"),
    ("gateway/llm/sending", "provider call (lean HTTP/1.1 client)"),
    ("gateway/stores/redis", "Redis client, RESP, script arguments"),
    ("gateway/http/principal", "authentication (key, account)"),
    ("gateway/services/auth", "authentication (key, account)"),
    ("gateway/services/keys", "authentication (key, account)"),
    ("billing/token", "counting tokens"),
    ("billing/encodings", "counting tokens"),
    ("billing/pricing", "pricing"),
    ("billing/admission", "admission (windows, budgets)"),
    ("billing/windows", "admission (windows, budgets)"),
    ("billing/quotas", "admission (windows, budgets)"),
    ("billing/end_users", "admission (windows, budgets)"),
    ("gateway/services/end_user", "admission (windows, budgets)"),
    ("gateway/services/settlement", "settlement message"),
    ("gateway/services/metered", "metered path (orchestration)"),
    ("gateway/services/metering", "metered path (orchestration)"),
    ("gateway/services/request_cost", "pricing"),
    ("gateway/llm/calls", "reading the call"),
    ("gateway/llm/readers", "reading the call"),
    ("gateway/llm/chat_turns", "reading the call"),
    ("gateway/llm/options", "reading the call"),
    ("gateway/llm/endpoint", "reading the call"),
    ("gateway/http/bodies", "reading the call"),
    ("gateway/http/headers", "response headers"),
    ("gateway/http/middleware", "middleware, logs, metrics"),
    ("gateway/http/observe", "middleware, logs, metrics"),
    ("gateway/http/logs", "middleware, logs, metrics"),
    ("gateway/http/metrics", "middleware, logs, metrics"),
    ("gateway/telemetry", "middleware, logs, metrics"),
    ("gateway/workers/settler", "settler (in-process)"),
    ("gateway/stores/postgres", "settler (in-process)"),
)
LIBRARIES = (
    ("aiohttp/", "aiohttp (server, outside Meterway's code)"),
    ("asyncio/", "event loop"),
    ("uvloop", "event loop"),
)


def _frame(name: str) -> tuple[str, str]:
    """(path from the package root, function) of a sampled `file:qualname`."""
    file, _, function = name.rpartition(":")
    for root in OWN:
        if root in file:
            return root.strip("/") + "/" + file.split(root, 1)[1].removesuffix(".py"), function
    return file, function


def _area(module: str) -> str:
    for prefix, area in AREAS:
        if module.startswith(prefix):
            return area
    if module.startswith(("gateway/", "billing/")):
        return f"other Meterway code ({module})"
    for marker, area in LIBRARIES:
        if marker in module:
            return area
    return "other (interpreter, libraries)"


def attribute(collapsed: str) -> tuple[Counter[str], Counter[str], int]:
    """Samples by area, by function (`module.function`, the frame charged), and in all."""
    areas: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = [_frame(f) for f in stack.split(";")]
        own = [f for f in frames if f[0].startswith(("gateway/", "billing/"))]
        own = [f for f in own if not f[0].startswith(ROOTS)]
        module, function = own[-1] if own else frames[-1]
        areas[_area(module)] += n
        functions[f"{module.rsplit('/', 1)[-1] if not own else module}.{function}"] += n
        total += n
    return areas, functions, total


def _start(
    folder: Path, target: str, args: list[str], env: dict[str, str], port: int, name: str
) -> Arm:
    folder.mkdir()
    log = (folder / "out.log").open("ab")
    argv = [sys.executable, "-m", "tests.bench.sampled", str(folder / "stacks"), target, *args]
    env = {**env, "PYTHONHASHSEED": "0"}
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    return Arm(name, port, proc, folder)


def _profile(arm: Arm, stream: bool, n: int) -> str:
    send(arm, stream, 50)  # the first calls of a path load and warm what it uses
    arm.proc.send_signal(signal.SIGUSR1)
    send(arm, stream, n)
    out = arm.folder / "stacks"
    out.unlink(missing_ok=True)
    arm.proc.send_signal(signal.SIGUSR2)
    deadline = time.monotonic() + 30
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # written in one call; let it finish
    return out.read_text()


def _table(title: str, rows: Counter[str], total: int, per_request: float, top: int) -> list[str]:
    out = [f"\n{title}\n", "| where | instructions / request | share |", "|---|---:|---:|"]
    for name, n in rows.most_common(top):
        out.append(f"| {name} | {per_request * n / total:,.0f} | {100 * n / total:.1f}% |")
    return out


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m tests.bench.by_function", description=__doc__)
    p.add_argument("--requests", type=int, default=25000, help="requests sampled per path")
    p.add_argument("--settler", action="store_true", help="the settler runs in the gateway")
    p.add_argument("--top", type=int, default=25, help="functions listed per path")
    p.add_argument("--plain", type=float, help="Meterway's instructions per plain request")
    p.add_argument("--stream", type=float, help="Meterway's instructions per streamed request")
    p.add_argument("--save", type=Path, help="keep the collapsed stacks in this folder")
    a = p.parse_args()
    counts = baseline_of(json.loads(BASELINE.read_text()), build())
    lines: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="mwprofile-") as tmp,
        arms(Path(tmp), _start, hot_path_only=not a.settler) as (bare, mw),
    ):
        for path, stream in PATHS.items():
            for arm, who in ((bare, "bare"), (mw, "meterway")):
                collapsed = _profile(arm, stream, a.requests)
                if a.save:
                    a.save.mkdir(parents=True, exist_ok=True)
                    (a.save / f"{path}-{who}.txt").write_text(collapsed)
                given = getattr(a, path) if who == "meterway" else None
                per_request = given or counts[path][who]
                areas, functions, total = attribute(collapsed)
                label = f"{path}, {arm.name}: {per_request:,.0f} instructions per request"
                lines += _table(
                    f"{label} ({total} samples), by area", areas, total, per_request, 40
                )
                if who == "meterway":
                    lines += _table(
                        f"{path}, {arm.name}, by function", functions, total, per_request, a.top
                    )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
