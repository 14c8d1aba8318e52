"""A customer's credit grants as their pages show them: what each still holds, until when,
and a warning for money about to expire (the balance drops on the day it does)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from billing.money.credit_grants import ends_soon
from gateway.http.appkeys import GRANTS, STORE
from gateway.http.shared.credit_grants import grant_json


@dataclass(frozen=True, slots=True)
class GrantsView:
    active: list[dict[str, Any]]  # grants still holding money, soonest end first
    expiring: list[dict[str, Any]]  # those ending within the notice period


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


async def grants_view(request: web.Request, account_id: str) -> GrantsView:
    app = request.config_dict
    now = datetime.fromtimestamp(await app[STORE].now_ms() / 1000, UTC)
    rows = [grant_json(r, now) for r in await app[GRANTS].of_account(account_id)]
    active = [g for g in rows if g["status"] == "active"]
    active.sort(key=lambda g: (g["expires_at"] is None, g["expires_at"] or "", g["priority"]))
    soon = [g for g in active if ends_soon(_when(g["expires_at"]), g["remaining_micros"], now)]
    return GrantsView(active, soon)
