"""The systems under test as child processes: the bare proxy and `meterway serve`."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.bench import fixtures
from tests.bench.procs import cpu_seconds, family, free_port, rss_mib, spawn, stop, wait_port

ROOT = Path(__file__).resolve().parents[2]
GATEWAY_CPU = 0
LOAD_CPU = 1


@dataclass
class Target:
    """A proxy under test; `served` counts the 2xx answers wrk saw from it."""

    name: str
    url: str
    proc: subprocess.Popen[bytes] | None = None
    served: int = 0
    extra: dict[str, float] = field(default_factory=dict)

    def pids(self) -> list[int]:
        return family(self.proc.pid) if self.proc else []

    def cpu(self) -> float:
        return cpu_seconds(self.pids()) if self.proc else 0.0

    def rss(self) -> float:
        return rss_mib(self.pids()) if self.proc else 0.0

    def close(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None


def gateway_env(upstream: str, port: int, config_dir: Path, workers: int) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": fixtures.DSN,
        "REDIS_URL": fixtures.REDIS_URL,
        "ADMIN_API_KEY": fixtures.ADMIN_KEY,
        "LISTEN_ADDR": f"127.0.0.1:{port}",
        "REDIS_PREFIX": fixtures.PREFIX,
        "OPENAI_BASE_URL": upstream + "/v1",
        "OPENAI_API_KEY": "bench-upstream-key",
        # The streamed arm asks for a Gemini model: its provider is nginx's SSE location.
        "GOOGLE_BASE_URL": upstream + "/sse/v1",
        "GOOGLE_API_KEY": "bench-upstream-key",
        "MW_CONFIG_DIR": str(config_dir),
        "WORKERS": str(workers),
    }
    if fixtures.REDIS_CLUSTER_URLS:  # the bench's own cluster (tests/bench/scaleout.py)
        env["REDIS_CLUSTER_URLS"] = fixtures.REDIS_CLUSTER_URLS
    return env


def add_ref_env(parser: argparse.ArgumentParser) -> None:
    """`--ref-env K=V`, repeatable: what `ref_env` adds to a `--ref` arm's environment."""
    parser.add_argument(
        "--ref-env", action="append", default=[], metavar="K=V", help="the ref arm's environment"
    )


def ref_config(dest: Path, config: Path, ref: Path) -> Path:
    """The bench's config with the reference tree's own pricing.toml, whose form is that
    tree's (the catalogue's operator layer, or the hand-written table before it)."""
    own = ref / "config" / "pricing.toml"
    if not own.is_file():
        return config
    shutil.copytree(config, dest)
    shutil.copy(own, dest / "pricing.toml")
    return dest


def ref_env(ref: Path, pairs: list[str]) -> dict[str, str]:
    """The environment of a `--ref` arm: its copy of the code first on PYTHONPATH, and the
    `--ref-env K=V` settings. Both arms run all along with their in-process settlers in one
    consumer group, so a ref whose settler cannot read this tree's settlement messages
    would park them (and the reverse): compare a message change with a copy of this tree
    and the old behaviour's setting (e.g. SETTLEMENT_MESSAGES=named) instead."""
    return {"PYTHONPATH": str(ref.resolve()), **dict(kv.split("=", 1) for kv in pairs)}


def wait_http(url: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer 200 within {timeout_s}s")


def start_bare(upstream: str, logs: Path, redis_url: str | None = None) -> Target:
    """The bare proxy; with `redis_url`, the floor (two Redis round trips per request)."""
    port = free_port()
    argv = [sys.executable, "-m", "tests.bench.bare_proxy", "--listen", f"127.0.0.1:{port}"]
    argv += ["--upstream", upstream, *(["--redis", redis_url] if redis_url else [])]
    name = "floor" if redis_url else "bare"
    proc = spawn(argv, cpu=GATEWAY_CPU, log=logs / f"{name}.log")
    wait_port(port)
    return Target(name, f"http://127.0.0.1:{port}", proc)


def start_meterway(
    upstream: str,
    config_dir: Path,
    logs: Path,
    workers: int = 1,
    extra_env: dict[str, str] | None = None,
) -> Target:
    """WORKERS=1 is pinned to the gateway CPU; more workers float over both CPUs."""
    port = free_port()
    env = {**gateway_env(upstream, port, config_dir, workers), **(extra_env or {})}
    cpu = GATEWAY_CPU if workers == 1 else None
    argv = [str(Path(sys.executable).with_name("meterway")), "serve"]
    proc = spawn(argv, cpu=cpu, log=logs / f"meterway-w{workers}.log", env=env)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/readyz")
    if workers > 1:
        time.sleep(1.0)  # let every forked worker bind the port
    return Target(f"meterway-w{workers}", url, proc)


def start_settler(upstream: str, config_dir: Path, logs: Path) -> Target:
    """`meterway settler` on its own, floating over both CPUs like Redis and PostgreSQL."""
    env = gateway_env(upstream, free_port(), config_dir, 1)
    argv = [str(Path(sys.executable).with_name("meterway")), "settler"]
    return Target("settler", "", spawn(argv, cpu=None, log=logs / "settler.log", env=env))
