"""The compiled build (setup.py: mypyc over the hot path and the pure domain), tested in every
run of the suite beside the pure build the rest of it runs.

A copy of the repository is built by docs/performance.md's recipe, the block read from the
page and run as written in a fresh virtualenv (tests/support/fresh_venv.py: the suite's
dependencies, pip offline, so the recipe's mypy pin must be the suite's), and the modules it
compiled are placed beside the copy's sources; once per content: a build is kept under a key
of everything it reads (tests/support/compiled_cache.py) and reused while that is unchanged.
Then:
- the tests of what it compiles run against it (`compiled_pass()`: the unit tests that
  import a compiled module, and the proxy's end-to-end, hostile-provider and fault tests), in
  a pytest of their own with `MW_MYPYC=1` on two workers, under which
  tests/unit/test_compiled_build.py fails if a listed module ran from its source;
- meanwhile the speed guard measures both builds in one run under valgrind, one bare proxy
  for both, each against its section of `speed_baseline.json` (it counts instructions,
  which the pass beside it does not change).
The rest of the suite is the pure build's alone: the two builds run the same sources, and
the tests here are those of the modules that differ.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.speed.guard_run import GUARD_TIMEOUT_S, held, run_guard
from tests.support import compiled_cache
from tests.support.fresh_venv import fresh_venv, offline, site_packages
from tests.unit.test_compiled_build import _hot_path, _module

ROOT = Path(__file__).resolve().parents[2]
# What the copy leaves out: built, installed or cached things, and the browsers' and
# agents' node modules (no test of the compiled pass drives them).
NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", "node_modules", "build", "*.so", "__pycache__", ".*_cache", "results"
)
# The hot path end to end; with the unit tests that import a compiled module (`compiled_pass`).
END_TO_END = (
    "tests/e2e/test_proxy_api.py",
    "tests/e2e/test_core_flow.py",
    "tests/e2e/test_anthropic.py",
    "tests/e2e/test_gemini.py",
    "tests/e2e/test_responses.py",
    "tests/e2e/test_quotas.py",
    "tests/e2e/test_end_user_budgets.py",
    "tests/e2e/test_cost_in_usage.py",
    "tests/e2e/test_leases.py",
    "tests/e2e/test_leased_money.py",
    "tests/e2e/test_traces.py",
    "tests/e2e/test_trace_spans.py",
    "tests/hostile/test_hostile_providers.py",
    "tests/hostile/test_hostile_listener.py",
    "tests/hostile/test_hostile_clients.py",
    "tests/hostile/test_hostile_stream_errors.py",
    "tests/hostile/test_overreporting_races.py",
    "tests/integration/test_cluster_wire.py",
    "tests/integration/test_leases.py",
    "tests/integration/test_lease_faults.py",
    "tests/fault/test_settle_failure.py",
    "tests/fault/test_lost_reservation.py",
)
UNIT = ROOT / "tests" / "unit"
# A miss's caches (`build_caches`), beside the builds' own.
COMPILER_CACHE = compiled_cache.CACHE.parent / "ccache"
MYPYC_MYPY_CACHE = compiled_cache.CACHE.parent / "mypyc-mypy"
BUILD_TIMEOUT_S = 1800  # a hang guard: 15 minutes were not enough on a slow, loaded machine
PASS_TIMEOUT_S = 1500

pytestmark = [pytest.mark.speed, pytest.mark.compiled]  # lanes: valgrind and a C compiler


def _imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def compiled_pass() -> list[str]:
    """What the pass runs: tests/unit's modules that import a module setup.py compiles, the
    check that they ran compiled (tests/unit/test_compiled_build.py), and `END_TO_END`. The
    other unit tests (docs, settings, the dashboard, authority...) run the same sources in
    the pure build's run; here they were an eighth of the pass's time."""
    compiled = {_module(path) for path in _hot_path()}
    unit = [
        path
        for path in sorted(UNIT.glob("test_*.py"))
        if path.name == "test_compiled_build.py" or _imported(path) & compiled
    ]
    return [str(path.relative_to(ROOT)) for path in unit] + list(END_TO_END)


def recipe() -> str:
    """The compiled build's block in docs/performance.md (its "Two builds" section)."""
    section = (ROOT / "docs" / "performance.md").read_text().split("## Two builds", 1)[1]
    found = re.search(r"```sh\n(.*?)```", section, re.S)
    assert found is not None, "docs/performance.md's Two builds section has no sh block"
    return found.group(1)


def place_compiled(venv: Path, tree: Path) -> list[Path]:
    """The extension modules the recipe installed, put beside the copy's sources (each
    module's shim and its `__mypyc` library), the layout `build_ext --inplace` makes."""
    installed = site_packages(venv)
    placed = []
    for module in installed.glob("**/*.so"):
        where = module.relative_to(installed)
        if where.parts[0] in ("gateway", "billing") or "__mypyc" in where.name:
            shutil.copy2(module, tree / where)
            placed.append(where)
    return placed


def build_caches(where: Path, env: dict[str, str]) -> dict[str, str]:
    """`env` with what makes a miss cheap (setup.py compiles each module on its own): mypy's
    cache, and ccache where the machine has it (`.ci/run` installs it), both kept outside
    the checkout. Paths under `where` (the copy, its venv, the links to the suite's
    packages) are hashed relative to it, so the next build, in another temporary folder,
    hits for every C file that did not change."""
    env = {**env, "MYPY_CACHE_DIR": str(MYPYC_MYPY_CACHE)}
    if shutil.which("ccache") is None:
        return env
    compiler = sysconfig.get_config_var("CC") or "cc"
    return {
        **env,
        "CC": f"ccache {compiler}",
        "CCACHE_DIR": str(COMPILER_CACHE),
        "CCACHE_BASEDIR": str(where),
        "CCACHE_NOHASHDIR": "1",
    }


def build(where: Path, tree: Path) -> list[Path]:
    """docs/performance.md's recipe run as written in a fresh virtualenv over `tree`, and the
    modules it compiled placed beside the tree's sources."""
    assert shutil.which("cc") or shutil.which("gcc"), "the compiled build needs a C compiler"
    venv = fresh_venv(where)
    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", recipe()],
        cwd=tree,
        env=build_caches(where, offline(venv, dict(os.environ))),
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert run.stdout.strip().endswith("(compiled build)"), run.stdout[-3000:]
    return place_compiled(venv, tree)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of the repository with the compiled build beside its sources: built by the
    recipe, or taken from the cache when everything the build reads is as it was when it
    was last built on this machine (tests/support/compiled_cache.py)."""
    where = tmp_path_factory.mktemp("compiled")
    tree = where / "meterway"
    shutil.copytree(ROOT, tree, ignore=NOT_COPIED, symlinks=True)
    key = compiled_cache.content_key(tree, _hot_path())
    placed = compiled_cache.fetch(key, tree)
    if placed is None:
        placed = build(where, tree)
        compiled_cache.store(key, tree, placed)
    assert len(placed) == 2 * len(_hot_path()), placed  # each listed module, its library
    yield tree


def _in(tree: Path) -> dict[str, str]:
    """The environment that imports the copy (compiled modules and all) before anything
    the virtualenv's editable install points at."""
    return {**os.environ, "MW_MYPYC": "1", "PYTHONPATH": str(tree)}


@pytest.fixture(scope="module")
def guard(compiled: Path) -> Iterator[Future[subprocess.CompletedProcess[str]]]:
    """The speed guard over both builds in one instrumented run (one bare proxy measured for
    both), started as soon as the compiled build is there and run beside the pass (two
    processes, not one after the other: this file is the suite's long pole)."""
    with ThreadPoolExecutor(1) as pool:
        yield pool.submit(run_guard, ROOT, dict(os.environ), compiled)


@pytest.mark.timeout(BUILD_TIMEOUT_S + PASS_TIMEOUT_S)
def test_the_hot_paths_tests_pass_on_the_compiled_build(
    compiled: Path, guard: Future[subprocess.CompletedProcess[str]]
) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider", *compiled_pass()],
        cwd=compiled,
        env=_in(compiled),
        capture_output=True,
        text=True,
        timeout=PASS_TIMEOUT_S,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]


@pytest.mark.timeout(BUILD_TIMEOUT_S + GUARD_TIMEOUT_S)
def test_instructions_per_request_have_not_grown_past_the_baseline(
    guard: Future[subprocess.CompletedProcess[str]],
) -> None:
    """CI's guard on the hot path: instructions per proxied request of the pure build, as a
    ratio to the bare proxy in the same run, against `tests/bench/speed_baseline.json`
    (`tests.bench.speed_guard`). A change that makes a request cost more than the baseline's
    threshold fails here, naming the figure, unless the same change updates the baseline
    (`python -m tests.bench.speed_guard --update`), which puts the new cost in front of its
    reviewer."""
    held(guard.result(timeout=GUARD_TIMEOUT_S), "pure")


@pytest.mark.timeout(BUILD_TIMEOUT_S + GUARD_TIMEOUT_S)
def test_the_compiled_build_costs_no_more_than_its_baseline(
    guard: Future[subprocess.CompletedProcess[str]],
) -> None:
    held(guard.result(timeout=GUARD_TIMEOUT_S), "compiled")
