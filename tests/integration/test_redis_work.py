"""The Redis work of a metered call, held to its baseline (issue 61): for plain, streamed, a
batch line, a Realtime response and an MCP tool call, the commands Redis ran per call, as
its own `INFO commandstats` counts them on a private redis-server
(tests/bench/redis_work.py). A count does not depend on the machine: a change that adds a
Redis command, a script or a round trip to a call fails here, naming it, unless the same
change updates `tests/bench/redis_work_baseline.json` (`python -m tests.bench.redis_work
--update`), which puts the new cost in front of its reviewer. Fewer is always welcome."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bench.redis_work import BASELINE, KINDS, as_json, grown, measure_all
from tests.support.harness import temp_database


@pytest.mark.timeout(600)
async def test_no_kind_of_call_asks_redis_more_than_its_baseline(tmp_path: Path) -> None:
    """On a database of its own: a background round reading the balance of every account
    with activity in the suite's shared database (HMGETs) lands inside a measure there
    (plain read 4.95 HMGETs a call against 4.0 in a whole-suite run)."""
    before = json.loads(BASELINE.read_text())
    async with temp_database() as dsn:
        now = as_json(await measure_all(dsn, tmp_path))
    assert sorted(now) == sorted(before) == sorted(KINDS)
    more = [line for kind in KINDS for line in grown(kind, now[kind], before[kind])]
    assert not more, "\n".join(more)
    for kind in ("plain", "streamed", "mcp_call", "realtime_response"):
        assert now[kind]["scripts"] >= 2, now[kind]  # a reserve and a settle: it was measured


def test_the_guard_names_a_command_added_to_a_call() -> None:
    before = {"scripts": 2.0, "calls": {"evalsha": 2.0, "get": 4.0, "zrangebyscore": 0.0}}
    extra = {"scripts": 2.0, "calls": {"evalsha": 2.0, "get": 5.0, "zrangebyscore": 3.0}}
    assert grown("plain", extra, before) == ["plain: 5.0 GET a call, baseline 4.0"]
    trip = {"scripts": 3.0, "calls": {"evalsha": 3.0, "get": 4.0, "hset": 1.0}}
    assert len(grown("plain", trip, before)) == 3
    assert grown("plain", {"scripts": 2.05, "calls": {"get": 4.2}}, before) == []
