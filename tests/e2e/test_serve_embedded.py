"""`meterway serve` embeds nothing unless `--embedded` names it (issue 59): without a
DATABASE_URL it refuses as before and starts no server; with `--embedded` it says in one
line that this is for a single machine, serves, and Ctrl-C stops both embedded servers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.build import build
from tests.e2e.test_quickstart import kill_under, processes_under
from tests.support.harness import free_port

ROOT = Path(__file__).resolve().parents[2]
ADMIN = "serve-embedded-admin-key-0123456789"
NOWHERE_PG = "postgresql://postgres@127.0.0.1:1/nowhere"


@pytest.fixture
def state() -> Iterator[Path]:
    """Outside pytest's tmp_path, for pgserver's own user (see test_quickstart.py)."""
    where = Path(tempfile.mkdtemp(prefix="mw-serve-embedded-"))
    where.chmod(0o755)
    yield where
    kill_under(where)
    shutil.rmtree(where, ignore_errors=True)


def serve_env(state: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(XDG_STATE_HOME=str(state), ADMIN_API_KEY=ADMIN, PYTHONPATH=str(ROOT))
    env["LISTEN_ADDR"] = f"127.0.0.1:{port}"
    return env


def healthz(port: int, deadline_s: float = 90) -> bytes:
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                return bytes(r.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.timeout(360)
def test_serve_without_embedded_starts_no_server(state: Path) -> None:
    said = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve"],
        env=serve_env(state, free_port()), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert said.returncode == 2, said.stderr
    assert "DATABASE_URL must be a postgres/postgresql URL" in said.stderr
    assert not (state / "meterway").exists() and processes_under(state) == {}


@pytest.mark.timeout(360)
def test_serve_embedded_says_single_machine_serves_and_stops_both(state: Path) -> None:
    port = free_port()
    log = state / "serve.log"
    with log.open("w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--embedded"],
            env=serve_env(state, port), stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
    try:
        assert json.loads(healthz(port)) == {"status": "ok", "build": build()}
        assert len(processes_under(state / "meterway" / "serve")) >= 2  # postgres, redis
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0, log.read_text()[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    said = log.read_text()
    line = [ln for ln in said.splitlines() if ln.startswith("meterway: embedded")]
    assert line == [
        f"meterway: embedded PostgreSQL and Redis in {state}/meterway/serve: for a single"
        " machine only (one host's disk, no replica); set DATABASE_URL and REDIS_URL to your"
        " own servers to run more than one gateway"
    ], said[-3000:]
    assert processes_under(state) == {}


def test_dev_reset_with_nothing_embedded_refuses_and_names_why(state: Path) -> None:
    """`--reset` clears only embedded servers' data: with both URLs set it wipes nothing (a
    database of yours is never dropped by it) and says so."""
    env = serve_env(state, free_port())
    env.update(DATABASE_URL=NOWHERE_PG, REDIS_URL="redis://127.0.0.1:1/0")
    said = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "dev", "--reset"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert said.returncode == 2, said.stderr
    assert said.stderr.strip() == (
        "meterway: --reset clears the embedded servers' data, and this run embeds none"
        " (PostgreSQL: as set; Redis: as set)"
    )
    assert not (state / "meterway").exists()
