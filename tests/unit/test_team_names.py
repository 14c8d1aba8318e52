"""A team's name for a 429 is read on the refusal path at most once a minute per team, so a
client hammering its team's quota does not hammer PostgreSQL (services/money/limits.py)."""

from __future__ import annotations

from typing import Any, cast

from gateway.services.money.limits import TeamNames
from gateway.stores.ports import TeamsPort


class Teams:
    def __init__(self) -> None:
        self.reads = 0

    async def get(self, team: str) -> dict[str, Any] | None:
        self.reads += 1
        return {"id": team, "name": f"name of {team}"} if team != "gone" else None


async def test_names_are_kept_a_while_and_an_unknown_team_is_none() -> None:
    teams = Teams()
    names = TeamNames(cast(TeamsPort, teams))
    assert [await names.get("t1") for _ in range(50)] == ["name of t1"] * 50
    assert await names.get("gone") is None and await names.get("gone") is None
    assert teams.reads == 2
    expired = TeamNames(cast(TeamsPort, teams), ttl_s=0.0)
    await expired.get("t1")
    await expired.get("t1")
    assert teams.reads == 4
