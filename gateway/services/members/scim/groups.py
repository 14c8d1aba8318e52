"""A directory's groups: each is a team of the organization (the team of that name, made
when there is none), and its people are placed by it (services/members/scim/placement.py): joining
moves a person's member and their keys into its team, leaving moves them out. Deleting a
group leaves its team, with its budgets and history, in place."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.errors import ScimInvalid, ScimUniqueness
from gateway.services.members.scim.people import patched
from gateway.services.members.scim.placement import Directory, Placed, place
from gateway.services.members.scim.resources import group_fields
from gateway.stores.errors import DuplicateScim, DuplicateTeam
from gateway.stores.records import Row


@dataclass(frozen=True, slots=True)
class Changed:
    """A group as a change left it, who joined and left, and where that put them."""

    row: Row
    joined: list[str]
    left: list[str]
    placed: list[Placed]


async def _team(d: Directory, account_id: str, name: str) -> str:
    for team in await d.teams.of_account(account_id):
        if team["name"] == name:
            return str(team["id"])
    try:
        return str((await d.teams.create(account_id, name, []))["id"])
    except DuplicateTeam:  # made meanwhile
        return await _team(d, account_id, name)


async def _users(d: Directory, account_id: str, ids: Sequence[str]) -> None:
    known = {u["id"] for u in await d.scim.users(account_id)}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise ScimInvalid(f"No user of this directory has the id {unknown[0]!r}.", "invalidValue")


async def _members(d: Directory, group: Row, ids: list[str], before: Sequence[str]) -> Changed:
    row = await d.scim.set_members(group["id"], ids) if list(before) != ids else group
    joined = [u for u in ids if u not in before]
    left = [u for u in before if u not in ids]
    placed = []
    for user_id in joined + left:
        user = await d.scim.user(group["account_id"], user_id)
        moved = await place(d, user, [group] if user_id in left else []) if user else None
        if moved is not None:
            placed.append(moved)
    return Changed(row, joined, left, placed)


async def create(d: Directory, account_id: str, body: Mapping[str, Any]) -> Changed:
    name, external_id, ids = group_fields(body)
    await _users(d, account_id, ids)
    team = await _team(d, account_id, name)
    try:
        row = await d.scim.create_group(account_id, name, external_id, team)
    except DuplicateScim as exc:
        raise ScimUniqueness("This directory already has a group of this displayName.") from exc
    return await _members(d, row, ids, [])


async def update(d: Directory, group: Row, body: Mapping[str, Any]) -> Changed:
    """Replace the group with `body` (PUT, or what a PATCH left)."""
    name, external_id, ids = group_fields(body)
    await _users(d, group["account_id"], ids)
    row = group
    if (name, external_id) != (group["display_name"], group["external_id"]):
        try:
            row = await d.scim.update_group(group["id"], name, external_id)
        except DuplicateScim as exc:
            raise ScimUniqueness("This directory already has a group of this displayName.") from exc
    return await _members(d, row, ids, group["members"])


def as_resource(group: Row) -> dict[str, Any]:
    out: dict[str, Any] = {"displayName": group["display_name"]}
    out["members"] = [{"value": u} for u in group["members"]]
    return out | ({"externalId": group["external_id"]} if group["external_id"] else {})


async def patch(d: Directory, group: Row, operations: Sequence[object]) -> Changed:
    return await update(d, group, patched(as_resource(group), operations))


async def delete(d: Directory, group: Row) -> list[Placed]:
    await d.scim.delete_group(group["id"])
    placed = []
    for user_id in group["members"]:
        user = await d.scim.user(group["account_id"], user_id)
        moved = await place(d, user, [group]) if user else None
        if moved is not None:
            placed.append(moved)
    return placed
