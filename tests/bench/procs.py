"""Child processes for the benchmarks: pinned start, port wait, stop, CPU and RSS readings."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
OWN_REDIS_URL = "MWBENCH_REDIS_URL"  # read once, at import, by tests/bench/fixtures.py
OWN_REDIS_PID = "MWBENCH_REDIS_PID"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn(
    argv: list[str], *, cpu: int | None, log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start argv (pinned to one CPU with taskset when cpu is given), output to log."""
    prefix = ["taskset", "-c", str(cpu)] if cpu is not None else []
    out = log.open("ab")
    return subprocess.Popen(prefix + argv, stdout=out, stderr=subprocess.STDOUT, env=env)


def pin(pids: list[int], cpu: int) -> None:
    """Every thread of `pids` to one CPU (a process started before its core was known, or
    not by the bench: a PostgreSQL backend); one gone, or not ours to move, is left."""
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(int(task.name), {cpu})


def wait_port(port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on port {port} after {timeout_s}s")


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 15.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def family(pid: int) -> list[int]:
    """pid and its direct children (WORKERS > 1 forks the extra workers)."""
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        kids = []
    return [pid, *(int(k) for k in kids)]


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the given processes, in seconds."""
    return sum(cpu_by_pid(pids).values())


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    """utime + stime in seconds per process; one that has exited is left out."""
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def matching(*texts: str) -> list[int]:
    """Processes whose command line holds any of `texts` (a PostgreSQL backend's shows its
    database, e.g. "postgres: postgres meterway_bench 127.0.0.1(5432) idle")."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(t in cmdline for t in texts):
            found.append(int(entry.name))
    return found


def rss_mib(pids: list[int]) -> float:
    total_kib = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total_kib += int(line.split()[1])
    return total_kib / 1024


def callgrind(pid: int, command: str) -> None:
    """`callgrind_control` on a process running under callgrind (-z zeroes, -d dumps)."""
    subprocess.run(["callgrind_control", command, str(pid)], check=True, capture_output=True)


def dump(pid: int, folder: Path) -> Path:
    """Dump the counters since the last zeroing (the output files are in `folder`); the
    file of that dump."""
    callgrind(pid, "-d")
    return max(folder.glob("cg.*"), key=lambda f: f.stat().st_mtime)


def instructions(dumped: Path) -> float:
    """The instructions counted in one callgrind dump."""
    for line in dumped.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return float(line.split()[1])
    raise RuntimeError(f"no totals in {dumped}")


def dumped_instructions(pid: int, folder: Path) -> float:
    """`dump`, and the instructions in that dump."""
    return instructions(dump(pid, folder))


def rerun_on_own_redis(
    module: str,
    *,
    prefix: Callable[[str], list[str]] = lambda folder: [],
    env: Callable[[str], dict[str, str]] = lambda folder: {},
    timeout_s: float = 20.0,
) -> int:
    """Start a redis-server of the bench's own (its data in a temporary folder; `prefix(folder)`
    before its command, e.g. taskset or valgrind) and run `python -m module` again, with this
    process's arguments, against it: the fixtures read its URL only at import. The re-run finds
    the server's URL and pid in OWN_REDIS_URL and OWN_REDIS_PID, and `env(folder)` besides."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="mwredis-") as folder:
        argv = [*prefix(folder), "redis-server", "--port", str(port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--dir", folder]
        server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(port, timeout_s)
            extra = {
                OWN_REDIS_URL: f"redis://127.0.0.1:{port}/0",
                OWN_REDIS_PID: str(server.pid),
                **env(folder),
            }
            rerun = [sys.executable, "-m", module, *sys.argv[1:]]
            return subprocess.run(rerun, env={**os.environ, **extra}, check=False).returncode
        finally:
            stop(server)
