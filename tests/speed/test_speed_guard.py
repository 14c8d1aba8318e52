"""CI's guard on the hot path: instructions per proxied request, as a ratio to the bare
proxy in the same run, against `tests/bench/speed_baseline.json` (`tests.bench.speed_guard`).

A change that makes a request cost more than the baseline's threshold fails here, naming
the figure, unless the same change updates the baseline (`python -m tests.bench.speed_guard
--update`), which puts the new cost in front of its reviewer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.speed.guard_run import run_guard

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.speed  # lanes: valgrind


@pytest.mark.timeout(900)
def test_instructions_per_request_have_not_grown_past_the_baseline() -> None:
    run = run_guard(ROOT, dict(os.environ), "guard")
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
