"""CI's guard on Redis's work per metered call (issue 61): the instructions Redis spends per
reserve.lua and per settle.lua call, as a ratio to an empty script's sent the same way in the
same run, against `tests/bench/script_cost_baseline.json` (`tests.bench.script_cost`).

`tests/integration/test_redis_work.py` holds the commands each kind of call asks for; this
holds what those two scripts cost around their commands (entering them, Lua, converting
arguments and replies), which is most of a metered call's Redis time. A change that makes a
script cost more than the threshold fails here, naming it, unless the same change updates
the baseline (`python -m tests.bench.script_cost --update`)."""

from __future__ import annotations

from pathlib import Path

from tests.bench.script_cost import grown

ROOT = Path(__file__).resolve().parents[2]


def test_the_guard_names_the_script_that_grew() -> None:
    held = {"reserve.lua": 80.0, "settle.lua": 50.0}
    baseline = {"threshold": 0.03, "ratio_to_empty_script": held}
    assert grown({"reserve.lua": 82.0, "settle.lua": 50.1}, baseline) == []
    assert grown({"reserve.lua": 83.0, "settle.lua": 40.0}, baseline) == [
        "reserve.lua: 83.00 empty script calls a call, baseline 80.00 (+3.8%, threshold 3%)"
    ]
