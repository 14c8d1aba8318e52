"""Optional: a py-spy sampling profile of the gateway under load (`--profile`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

PACKAGES = (
    ("redis-py (redis/)", "(redis/"),
    ("aiohttp server (web_protocol, web_app)", "aiohttp/web_"),
    ("aiohttp client (upstream call)", "aiohttp/client"),
    ("settler task (Settler.run)", "Settler.run"),
    ("tiktoken", "tiktoken/"),
    ("json", "json/"),
)


def py_spy() -> str | None:
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


def record(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """Start py-spy in the background (pinned to the load CPU); collapsed stacks in out."""
    exe = py_spy()
    if exe is None:
        raise RuntimeError("py-spy is not installed (pip install py-spy)")
    argv = ["taskset", "-c", "1", exe, "record", "-p", str(pid), "-d", str(int(seconds))]
    argv += ["-r", "200", "-f", "raw", "-o", str(out)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summary(collapsed: Path, top: int = 20) -> list[str]:
    """Top frames by self samples and by inclusive samples (Meterway code only)."""
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    lines = collapsed.read_text().splitlines()
    for line in lines:
        stack, _, count = line.rpartition(" ")
        frames, n = stack.split(";"), int(count)
        total += n
        own[frames[-1]] += n
        for f in set(frames):
            if "gateway/" in f or "billing/" in f:
                incl[f] += n
    out = [f"py-spy: {total} samples", "", "Top self time:"]
    out += [f"- {100 * n / total:5.1f}% {f}" for f, n in own.most_common(top)]
    out += ["", "By library (inclusive):"]
    for label, pattern in PACKAGES:
        n = sum(int(ln.rpartition(" ")[2]) for ln in lines if pattern in ln.rpartition(" ")[0])
        out.append(f"- inclusive {100 * n / total:5.1f}% {label}")
    out += ["", "Top inclusive (gateway/, billing/):"]
    out += [f"- {100 * n / total:5.1f}% {f}" for f, n in incl.most_common(top)]
    return out
