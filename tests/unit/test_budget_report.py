"""The time budget's arithmetic (tests/support/budget.py): which lane a test is counted in,
which files grew, which totals are over their budget."""

from __future__ import annotations

import tomllib
from types import SimpleNamespace
from typing import cast

import pytest

from tests.support.budget import (
    BUDGET,
    LANES,
    directory_of,
    grown,
    lane_of,
    over_budget,
    whole_suite,
)


def test_a_test_is_counted_in_the_first_lane_that_takes_it_out_of_the_fast_lane() -> None:
    assert lane_of({"fast": 1, "test_x": 1}) == "fast"
    assert lane_of({"test_x": 1}) == "rest"
    assert lane_of({"speed": 1, "compiled": 1}) == "compiled"
    assert lane_of({"browser": 1, "fast": 1}) == "browser"


def test_a_file_grew_only_past_both_the_ratio_and_the_seconds() -> None:
    before = {"a.py": 10.0, "b.py": 100.0, "c.py": 1.0, "d.py": 50.0}
    now = {"a.py": 11.0, "b.py": 130.0, "c.py": 5.9, "d.py": 90.0, "new.py": 99.0}
    # a: under the seconds; c: under the seconds though 5.9x; new: nothing to compare with
    assert grown(now, before) == [("d.py", 50.0, 90.0), ("b.py", 100.0, 130.0)]


def test_totals_past_their_budget_are_named_and_unbudgeted_ones_never() -> None:
    assert over_budget({"fast": 121.0, "rest": 9e9, "node": 1.0}, {"fast": 120, "node": 2}) == [
        "fast"
    ]


def test_files_are_summed_by_their_directory_under_tests() -> None:
    assert directory_of("tests/e2e/account/test_x.py") == "tests/e2e"
    assert directory_of("tests/unit/test_x.py") == "tests/unit"


def test_the_budget_file_names_the_wall_time_every_lane_and_every_tier() -> None:
    budget = tomllib.loads(BUDGET.read_text())
    assert budget["wall_s"] == 1200
    assert set(budget["lanes"]) == {"fast", "rest", *LANES}
    tiers = {
        f"tests/{path.name}"
        for path in BUDGET.parent.iterdir()
        if path.is_dir() and any(path.glob("test_*.py"))
    }
    assert tiers <= set(budget["directories"]), tiers - set(budget["directories"])


def _config(args: list[str], keyword: str = "", markexpr: str = "") -> pytest.Config:
    option = SimpleNamespace(keyword=keyword, markexpr=markexpr)
    fake = SimpleNamespace(args=args, option=option, getini=lambda name: ["tests"])
    return cast(pytest.Config, fake)


def test_only_the_whole_suite_is_recorded_and_compared_with() -> None:
    """A file run alone is faster than under the whole run's load: were it recorded, the
    next whole run would name it as grown."""
    assert whole_suite(_config(["tests"]))
    assert not whole_suite(_config(["tests/attack"]))
    assert not whole_suite(_config(["tests"], markexpr="fast"))
    assert not whole_suite(_config(["tests"], keyword="fuzz"))
