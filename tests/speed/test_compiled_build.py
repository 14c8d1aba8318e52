"""The compiled build (setup.py: mypyc over the hot path and the pure domain), tested in every
run of the suite beside the pure build the rest of it runs.

A copy of the repository is built with `MW_MYPYC=1 python setup.py build_ext --inplace`
(the build `docs/performance.md` describes), then:
- the tests of what it compiles run against it (`COMPILED_PASS`: the domain's and the hot
  path's unit tests, and the proxy's end-to-end, hostile-provider and fault tests), in a
  pytest of their own with `MW_MYPYC=1`, under which tests/unit/test_compiled_build.py
  fails if a listed module ran from its source;
- the speed guard measures it against `speed_baseline.json`'s `compiled` section.
The rest of the suite is the pure build's alone: the two builds run the same sources, and
the tests here are those of the modules that differ.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.speed.guard_run import run_guard

ROOT = Path(__file__).resolve().parents[2]
# What the copy leaves out: built, installed or cached things, and the browsers' and
# agents' node modules (no test of the compiled pass drives them).
NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", "node_modules", "build", "*.so", "__pycache__", ".*_cache", "results"
)
COMPILED_PASS = (
    "tests/unit",
    "tests/e2e/test_proxy_api.py",
    "tests/e2e/test_core_flow.py",
    "tests/e2e/test_anthropic.py",
    "tests/e2e/test_gemini.py",
    "tests/e2e/test_responses.py",
    "tests/e2e/test_quotas.py",
    "tests/e2e/test_end_user_budgets.py",
    "tests/e2e/test_cost_in_usage.py",
    "tests/hostile/test_hostile_providers.py",
    "tests/hostile/test_hostile_listener.py",
    "tests/hostile/test_hostile_clients.py",
    "tests/hostile/test_hostile_stream_errors.py",
    "tests/hostile/test_overreporting_races.py",
    "tests/integration/test_cluster_wire.py",
    "tests/fault/test_settle_failure.py",
    "tests/fault/test_lost_reservation.py",
)
BUILD_TIMEOUT_S = 900
PASS_TIMEOUT_S = 1500


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of the repository with the compiled build beside its sources."""
    assert shutil.which("cc") or shutil.which("gcc"), "the compiled build needs a C compiler"
    tree = tmp_path_factory.mktemp("compiled") / "meterway"
    shutil.copytree(ROOT, tree, ignore=NOT_COPIED, symlinks=True)
    build = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace"],
        cwd=tree,
        env={**os.environ, "MW_MYPYC": "1"},
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    yield tree


def _in(tree: Path) -> dict[str, str]:
    """The environment that imports the copy (compiled modules and all) before anything
    the virtualenv's editable install points at."""
    return {**os.environ, "MW_MYPYC": "1", "PYTHONPATH": str(tree)}


@pytest.mark.timeout(BUILD_TIMEOUT_S + PASS_TIMEOUT_S)
def test_the_hot_paths_tests_pass_on_the_compiled_build(compiled: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "0", "-p", "no:cacheprovider", *COMPILED_PASS],
        cwd=compiled,
        env=_in(compiled),
        capture_output=True,
        text=True,
        timeout=PASS_TIMEOUT_S,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]


@pytest.mark.timeout(900)
def test_the_compiled_build_costs_no_more_than_its_baseline(compiled: Path) -> None:
    run = run_guard(compiled, _in(compiled), "cguard")
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    assert "the compiled build" in run.stdout, run.stdout
