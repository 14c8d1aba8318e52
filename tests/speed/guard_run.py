"""`python -m tests.bench.speed_guard` as the suite runs it, for either build."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

GUARD_TIMEOUT_S = 880


def run_guard(tree: Path, env: dict[str, str], tag: str) -> subprocess.CompletedProcess[str]:
    """The guard over the build in `tree`, on a database and Redis prefix of its own."""
    assert shutil.which("valgrind"), "the guard counts with valgrind: apt-get install valgrind"
    return subprocess.run(
        [sys.executable, "-m", "tests.bench.speed_guard"],
        cwd=tree,
        env={**env, "MWBENCH_TAG": f"{tag}{os.getpid()}"},
        capture_output=True,
        text=True,
        timeout=GUARD_TIMEOUT_S,
        check=False,
    )
