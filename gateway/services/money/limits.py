"""Every limit that applies to a caller, at every level, with its use and which ones block.

A proxied call is checked against its end user's budget, its key's quotas, its key's team's
and its account's (reserve.lua, in that order); `GET /v1/account`, `meterway billing status`
and the dashboard list them all from here, each level named as people know it (the team's
and the key's names), so a 429 at any level is visible where the caller looks. An end-user
budget's use is per end user: the defaults are listed with their limits only.
"""

from __future__ import annotations

import json
import time
from typing import Any

from billing.money.quotas import Quota, parse_quotas
from gateway.services.money.usage_view import window_usage
from gateway.stores.ports import EndUserBudgetsPort, HotStorePort, LedgerPort, TeamsPort
from gateway.stores.ports.hot import shard_of
from gateway.stores.records import Row

CHECK_ORDER = ("end_user", "key", "team", "account")  # the order reserve.lua checks them in


class TeamNames:
    """Teams' names for a 429's words, read on the refusal path only and kept a minute, so
    a client that keeps hitting its team's quota costs PostgreSQL one read a minute per team
    (at most `size` teams are kept; the admitted path never asks)."""

    def __init__(self, teams: TeamsPort, ttl_s: float = 60.0, size: int = 10_000) -> None:
        self.teams, self.ttl_s, self.size = teams, ttl_s, size
        self._kept: dict[str, tuple[float, str | None]] = {}

    async def get(self, team_id: str) -> str | None:
        now = time.monotonic()
        kept = self._kept.get(team_id)
        if kept is not None and kept[0] > now:
            return kept[1]
        row = await self.teams.get(team_id)
        if len(self._kept) >= self.size:
            self._kept.clear()
        name = str(row["name"]) if row else None
        self._kept[team_id] = (now + self.ttl_s, name)
        return name


def _quotas(raw: object) -> tuple[Quota, ...]:
    """A row's quotas: JSON text (keys) or already-decoded objects (teams, budgets)."""
    objs = json.loads(raw) if isinstance(raw, str) else raw
    return parse_quotas(objs or [])


def _level(
    level: str, name: str, owner_id: str, windows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    return [
        w | {"level": level, "name": name, "id": owner_id, "blocks": w["used"] >= w["limit"]}
        for w in windows
    ]


def _defaults(rows: list[Row], key_id: str | None) -> list[dict[str, Any]]:
    """The end-user budgets' defaults that apply to this key's end users: its own default,
    else the account's (an end user's own budget replaces both)."""
    own = [r for r in rows if r["end_user"] == "" and key_id and r["key_id"] == key_id]
    chosen = own or [r for r in rows if r["end_user"] == "" and r["key_id"] == ""]
    name = "every end user of this key" if own else "every end user (the account's default)"
    return [
        {"level": "end_user", "name": name, "id": "", "window": q.window, "metric": q.metric,
         "limit": q.limit, "used": None, "remaining": None, "resets_at": None, "blocks": False}
        for r in chosen[:1]
        for q in _quotas(r["quotas"])
    ]  # fmt: skip


async def limits_of(
    stores: tuple[HotStorePort, LedgerPort, TeamsPort, EndUserBudgetsPort],
    account: Row,
    account_windows: list[dict[str, Any]],
    key_id: str | None,
) -> list[dict[str, Any]]:
    """Every limit on a call by `key_id` (None: a person, who calls with no key of their
    own: the account's windows and the end-user defaults), in the order they are checked."""
    store, ledger, teams, budgets = stores
    shard, found = shard_of(account["id"]), list[dict[str, Any]]()
    key = await ledger.get_key(key_id) if key_id else None
    if key is not None:
        quotas = _quotas(key["quotas"])
        own = await window_usage(store, shard, "k", key["id"], quotas)
        found += _level("key", key["name"], key["id"], own)
        team = await teams.get(key["team_id"]) if key.get("team_id") else None
        if team is not None:
            shared = await window_usage(store, shard, "t", team["id"], _quotas(team["quotas"]))
            found += _level("team", team["name"], team["id"], shared)
    found += _level("account", account["name"], account["id"], account_windows)
    defaults = _defaults(await budgets.of_account(account["id"]), key_id)
    return sorted(defaults + found, key=lambda w: CHECK_ORDER.index(w["level"]))
