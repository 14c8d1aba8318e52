"""Where a directory's groups put a person: in the team of the group they joined last (so
their keys, and the team's budgets, follow), and in the most powerful role the operator
maps one of their groups to (SCIM_GROUP_ROLES). A person in no mapped group keeps the role
they have, unless they just left one: then they are a `member`. The organization's only
owner keeps that role whatever their groups say (`services/joining.narrow`). A team set by
hand stays until a group says otherwise."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from billing.roles import best_role
from gateway.errors import LastOwner
from gateway.services.keys import assign_key
from gateway.services.members.joining import narrow
from gateway.stores.ports import (
    DomainClaimsPort,
    HotStorePort,
    LedgerPort,
    MembersPort,
    TeamsPort,
)
from gateway.stores.ports.scim import ScimPort
from gateway.stores.records import Row


@dataclass(frozen=True, slots=True)
class Directory:
    """The stores a SCIM change reaches, and the operator's group-to-role map."""

    scim: ScimPort
    members: MembersPort
    ledger: LedgerPort
    store: HotStorePort
    teams: TeamsPort
    group_roles: Mapping[str, str]
    domains: DomainClaimsPort


@dataclass(frozen=True, slots=True)
class Placed:
    """A member as a change of groups left them: their row before and after, and the key
    rows a narrower role rewrote (for the caller's key cache)."""

    before: Row
    after: Row
    fitted: list[Row]


def _role(d: Directory, groups: Sequence[Row], left: Sequence[Row], current: str) -> str:
    mapped = [
        d.group_roles[g["display_name"]] for g in groups if g["display_name"] in d.group_roles
    ]
    if mapped:
        return best_role(mapped) or current
    if any(g["display_name"] in d.group_roles for g in left):
        return "member"
    return current


def _team(groups: Sequence[Row], left: Sequence[Row], current: str | None) -> str | None:
    if groups:
        newest: str | None = groups[-1]["team_id"]
        return newest
    if current is not None and current in {g["team_id"] for g in left}:
        return None
    return current


async def move_keys(d: Directory, member: str, team_id: str | None) -> None:
    """Every live key the member created goes into `team_id` (or none)."""
    team = await d.teams.get(team_id) if team_id else None
    for key_id in await d.members.keys_of_member(member):
        key = await d.ledger.get_key(key_id)
        if key is not None and key["revoked_at"] is None and key.get("team_id") != team_id:
            await assign_key(d.teams, d.store, key, team)


async def place(d: Directory, user: Row, left: Sequence[Row] = ()) -> Placed | None:
    """Put an active user's member where their groups say; None for an inactive one."""
    member_id = user.get("member_id")
    before = await d.members.get(member_id) if member_id else None
    if before is None:
        return None
    groups = await d.scim.groups_of_user(user["id"])
    role = _role(d, groups, left, before["role"])
    team = _team(groups, left, before["team_id"])
    fitted: list[Row] = []
    if role != before["role"]:
        with contextlib.suppress(LastOwner):  # nobody, the directory included, demotes it
            _, fitted = await narrow(d.members, d.ledger, d.store, before["id"], role)
    if team != before["team_id"]:
        await d.members.set_team(before["id"], team)
        await move_keys(d, before["id"], team)
    after = await d.members.get(before["id"])
    assert after is not None
    return Placed(before, after, fitted)
