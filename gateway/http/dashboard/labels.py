"""Names for a usage row's values: keys and teams by name, the rest in words.

Read only with the scope their API route needs (`keys:read` for keys, `account:read` for
teams); without it a key or team is shown by its id, as the usage API answers it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from billing.money.display import usage_label
from gateway.http.appkeys import DIRECTORY, TEAMS
from gateway.http.principal import ACCOUNT_READ, KEYS_READ, Principal
from gateway.http.serialize import json_object
from gateway.stores.records import Row

KINDS = {
    "tokens": "Tokens (LLM calls)",
    "images": "Images",
    "audio": "Audio",
    "speech": "Speech",
    "metered": "Metered usage",
    "tools": "MCP tool calls",
}


@dataclass(frozen=True, slots=True)
class Named:
    """The caller's keys and teams by id, and the tag names they carry (sorted)."""

    keys: dict[str, str]
    teams: dict[str, str]
    tags: tuple[str, ...]


async def _key_rows(request: web.Request, who: Principal) -> list[Row]:
    if not who.has(KEYS_READ):
        return []
    rows = await request.config_dict[DIRECTORY].keys_of(who.account_id, include_revoked=True)
    return [r for r in rows if who.reach is None or r.get("member_id") == who.reach]


async def _team_rows(request: web.Request, who: Principal) -> list[Row]:
    if not who.has(ACCOUNT_READ):
        return []
    return await request.config_dict[TEAMS].of_account(who.account_id)


async def named(request: web.Request, who: Principal) -> Named:
    """Names and tags from one read of the keys and one of the teams the caller may see."""
    keys, teams = await _key_rows(request, who), await _team_rows(request, who)
    tags = sorted({name for r in (*keys, *teams) for name in json_object(r.get("tags"))})
    key_ids = {r["id"]: _key_name(r) for r in keys}
    return Named(key_ids, {r["id"]: r["name"] for r in teams}, tuple(tags))


def _key_name(row: Row) -> str:
    return f"{row['name']} ({row['key_prefix']}…)"


async def key_names(request: web.Request, who: Principal) -> dict[str, str]:
    return {r["id"]: _key_name(r) for r in await _key_rows(request, who)}


async def team_names(request: web.Request, who: Principal) -> dict[str, str]:
    return {r["id"]: r["name"] for r in await _team_rows(request, who)}


def labeller(dimension: str, keys: dict[str, str], teams: dict[str, str]) -> Callable[[str], str]:
    """How a value of `dimension` reads: a key's or team's name, a kind in words, else
    billing.money.display.usage_label."""
    if dimension == "key":
        return lambda v: keys.get(v) or usage_label("key", v)
    if dimension == "team":
        return lambda v: teams.get(v) or v or "No team"
    if dimension == "kind":
        return lambda v: KINDS.get(v, v)
    return lambda v: usage_label(dimension, v)
