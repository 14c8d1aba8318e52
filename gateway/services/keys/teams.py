"""Teams: an organization's keys grouped under shared quotas. PostgreSQL keeps the team and
its keys; each key's Redis hash keeps a copy of its team's quotas, so the reserve script
reads them with the key (no extra read, no extra round trip). Changing a team's quotas
copies them to each of its keys."""

from __future__ import annotations

from collections.abc import Sequence

from billing.money.quotas import Quota, parse_quotas
from gateway.stores.ports import HotStorePort, TeamsPort
from gateway.stores.ports.hot import shard_of
from gateway.stores.records import Row


async def set_team_quotas(
    teams: TeamsPort, store: HotStorePort, team: Row, quotas: Sequence[Quota]
) -> Row:
    row, keys = await teams.set_quotas(team["id"], quotas)
    for key in keys:
        await store.set_key_team(shard_of(key["account_id"]), key["id"], row["id"], quotas)
    return row


async def assign_key(teams: TeamsPort, store: HotStorePort, key: Row, team: Row | None) -> None:
    """Put a key in `team` (out of its former one), or in none."""
    await teams.set_key_team(key["id"], team["id"] if team else None)
    quotas = parse_quotas(team["quotas"]) if team else ()
    shard = shard_of(key["account_id"])
    await store.set_key_team(shard, key["id"], team["id"] if team else None, quotas)
