"""The suite's time, made visible at the end of every run (tests/budget.toml).

Pytest's `--durations` names slow tests; a suite grows by files and fixtures, so this sums
each file's setup, call and teardown, and each lane's (README's lanes, read from the markers
tests/conftest.py gives), prints the slowest files and the lanes against their budgets, and,
where a run is over a budget, the files that grew since the last run recorded on this
machine (`~/.cache/meterway-tests/durations.json`, outside the checkout; whole runs only). A
report, never an assertion: a test's outcome must not depend on the machine's speed.
"""

from __future__ import annotations

import json
import time
import tomllib
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUDGET = ROOT / "tests" / "budget.toml"
RECORD = Path.home() / ".cache" / "meterway-tests" / "durations.json"
SLOWEST = 20
# The lanes a test leaves the fast lane for, in the order a test carrying two is counted.
LANES = ("compiled", "speed", "browser", "node", "install")
# A file "grew" when it takes this much longer than last time, by ratio and by seconds.
GREW_BY = 1.2
GREW_S = 5.0


def lane_of(keywords: Mapping[str, Any]) -> str:
    """The lane a test runs in: the first need that takes it out of the fast lane, else fast,
    else the rest of the whole suite (tests/e2e and the other end-to-end tiers)."""
    for lane in LANES:
        if lane in keywords:
            return lane
    return "fast" if "fast" in keywords else "rest"


def directory_of(path: str) -> str:
    parts = path.split("/")
    return "/".join(parts[:2]) if len(parts) > 2 else parts[0]


def grown(now: Mapping[str, float], before: Mapping[str, float]) -> list[tuple[str, float, float]]:
    """Files that take longer than in the recorded run, most added seconds first."""
    rows = [
        (path, before[path], seconds)
        for path, seconds in now.items()
        if path in before and seconds > before[path] * GREW_BY and seconds - before[path] > GREW_S
    ]
    return sorted(rows, key=lambda row: row[1] - row[2])  # the most seconds added first


def over_budget(totals: Mapping[str, float], budget: Mapping[str, float]) -> list[str]:
    return [name for name, seconds in totals.items() if seconds > budget.get(name, float("inf"))]


class Budget:
    """Sums test time per file and lane in the controller, from every worker's reports."""

    def __init__(self, whole: bool) -> None:
        self._started = time.monotonic()
        self._whole = whole  # the whole suite: the run that is recorded and compared with
        self.files: dict[str, float] = defaultdict(float)
        self.lanes: dict[str, float] = defaultdict(float)

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        path = report.nodeid.split("::", 1)[0]
        self.files[path] += report.duration
        self.lanes[lane_of(report.keywords)] += report.duration

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.files:
            return
        wall = time.monotonic() - self._started
        budget = tomllib.loads(BUDGET.read_text())
        directories: dict[str, float] = defaultdict(float)
        for path, seconds in self.files.items():
            directories[directory_of(path)] += seconds
        write = terminalreporter.write_line
        terminalreporter.section("time budget (tests/budget.toml)")
        write(f"wall {wall:.0f} s (budget {budget['wall_s']} s)")
        for title, totals, limits in (
            ("lane", self.lanes, budget["lanes"]),
            ("directory", directories, budget["directories"]),
        ):
            for name, seconds in sorted(totals.items(), key=lambda item: -item[1]):
                limit = limits.get(name)
                said = f"budget {limit} s" if limit is not None else "no budget"
                mark = "  OVER" if limit is not None and seconds > limit else ""
                write(f"{title} {name}: {seconds:.0f} s ({said}){mark}")
        write(f"the {SLOWEST} slowest files (test seconds, summed over workers):")
        for path, seconds in sorted(self.files.items(), key=lambda item: -item[1])[:SLOWEST]:
            write(f"  {seconds:7.1f}  {path}")
        over = over_budget(self.lanes, budget["lanes"]) + over_budget(
            directories, budget["directories"]
        )
        if wall > budget["wall_s"]:
            over.append("wall")
        if not self._whole:
            if over:
                write("over budget: " + ", ".join(over) + " (a part of the suite: not compared)")
            return
        if over:
            self._grown(write, over, _recorded())
        _record(self.files)

    def _grown(self, write: Any, over: list[str], before: Mapping[str, float]) -> None:
        write(f"over budget: {', '.join(over)}; files grown since the last recorded run:")
        rows = grown(self.files, before)
        for path, then, now in rows:
            write(f"  {path}: {then:.1f} s -> {now:.1f} s")
        if not rows:
            write("  none" if before else "  (no run recorded on this machine yet)")


def _recorded() -> dict[str, float]:
    try:
        files = json.loads(RECORD.read_text())["files"]
    except (OSError, ValueError, KeyError):
        return {}
    return {str(path): float(seconds) for path, seconds in files.items()}


def _record(files: Mapping[str, float]) -> None:
    RECORD.parent.mkdir(parents=True, exist_ok=True)
    written = RECORD.with_suffix(".tmp")
    written.write_text(json.dumps({"files": dict(sorted(files.items()))}, indent=0))
    written.replace(RECORD)


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller (or a run without xdist)
        config.pluginmanager.register(Budget(whole_suite(config)), "meterway-budget")


def whole_suite(config: pytest.Config) -> bool:
    """README's test command: no paths but the configured ones, no -k, no -m. Only such a
    run is recorded, so a file run alone (faster, on an idle machine) is never what a
    whole run is compared with."""
    paths = [str(a) for a in config.args]
    chosen = paths and paths != [str(p) for p in config.getini("testpaths")]
    return not (chosen or config.option.keyword or config.option.markexpr)
