"""`python -m tests.bench.speed_guard` as the suite runs it: both builds in one run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

# Both builds under valgrind one after another, beside the compiled pass on a loaded machine.
GUARD_TIMEOUT_S = 1300


def run_guard(tree: Path, env: dict[str, str], compiled: Path) -> subprocess.CompletedProcess[str]:
    """The guard over the pure build in `tree` and the compiled build beside `compiled`'s
    sources, against one bare proxy, on a database and Redis prefix of its own."""
    assert shutil.which("valgrind"), "the guard counts with valgrind: apt-get install valgrind"
    return subprocess.run(
        [sys.executable, "-m", "tests.bench.speed_guard", "--compiled", str(compiled)],
        cwd=tree,
        env={**env, "MWBENCH_TAG": f"guard{os.getpid()}"},
        capture_output=True,
        text=True,
        timeout=GUARD_TIMEOUT_S,
        check=False,
    )


def held(run: subprocess.CompletedProcess[str], kind: str) -> None:
    """Fails unless the run measured `kind`'s build to its end and found it within its
    baseline's threshold (a crash, which also exits 1, names no SLOWER line)."""
    said = run.stdout + run.stderr[-3000:]
    assert run.returncode == 0 or "SLOWER: " in run.stdout, said
    assert f"{kind} stream: " in run.stdout, said
    slower = [line for line in run.stdout.splitlines() if line.startswith(f"SLOWER: the {kind} ")]
    assert not slower, said
