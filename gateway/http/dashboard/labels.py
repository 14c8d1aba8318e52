"""Names for a usage row's values: keys and teams by name, the rest in words.

Read only with the scope their API route needs (`keys:read` for keys, `account:read` for
teams); without it a key or team is shown by its id, as the usage API answers it.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from billing.display import usage_label
from gateway.http.appkeys import DIRECTORY, TEAMS
from gateway.http.principal import ACCOUNT_READ, KEYS_READ, Principal

KINDS = {
    "tokens": "Tokens (LLM calls)",
    "images": "Images",
    "audio": "Audio",
    "speech": "Speech",
    "metered": "Metered usage",
    "tools": "MCP tool calls",
}


async def key_names(request: web.Request, who: Principal) -> dict[str, str]:
    if not who.has(KEYS_READ):
        return {}
    rows = await request.config_dict[DIRECTORY].keys_of(who.account_id, include_revoked=True)
    mine = [r for r in rows if who.reach is None or r.get("member_id") == who.reach]
    return {r["id"]: f"{r['name']} ({r['key_prefix']}…)" for r in mine}


async def team_names(request: web.Request, who: Principal) -> dict[str, str]:
    if not who.has(ACCOUNT_READ):
        return {}
    rows = await request.config_dict[TEAMS].of_account(who.account_id)
    return {r["id"]: r["name"] for r in rows}


def labeller(dimension: str, keys: dict[str, str], teams: dict[str, str]) -> Callable[[str], str]:
    """How a value of `dimension` reads: a key's or team's name, a kind in words, else
    billing.display.usage_label."""
    if dimension == "key":
        return lambda v: keys.get(v) or usage_label("key", v)
    if dimension == "team":
        return lambda v: teams.get(v) or v or "No team"
    if dimension == "kind":
        return lambda v: KINDS.get(v, v)
    return lambda v: usage_label(dimension, v)
