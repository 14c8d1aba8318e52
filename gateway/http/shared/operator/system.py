"""The gateway's own state for its operator, `GET /admin/v1/system` and the dashboard's
System page: /readyz's details (each background task, each upstream and until when it
cools), the settlement backlog and its lag, the settlements the ledger refused (parked
as dead letters, with why) and where each usage exporter stands."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from billing import authority
from gateway.http.appkeys import EXPORTS, SETTINGS, SETTLEMENT, STORE
from gateway.http.openapi.paths import operator as ops_doc
from gateway.http.ops.health import readiness
from gateway.http.routing import Route, declare
from gateway.stores.errors import StoreUnavailable
from gateway.stores.records import DeadLetter

DEAD_SHOWN = 20  # the oldest parked settlements; `meterway settler dead-letters` lists all


def dead_letter_json(letter: DeadLetter) -> dict[str, Any]:
    parked = datetime.fromtimestamp(letter.parked_at_ms / 1000, UTC)
    return {
        "id": letter.entry_id,
        "shard": letter.shard,
        "message_id": letter.message_id,
        "reason": letter.reason,
        "request_id": letter.request_id,
        "account_id": letter.account_id,
        "parked_at": parked.isoformat(timespec="seconds"),
    }


async def _exporters(request: web.Request, tasks: dict[str, Any]) -> list[dict[str, Any]]:
    """Each usage target: whether it is configured, its task, its rows by export status."""
    app, out = request.config_dict, []
    o = app[SETTINGS].outbound
    for target, configured in (("stripe", o.stripe_export), ("lago", o.lago_export)):
        rows = await app[EXPORTS].counts(target)
        task = tasks.get(f"export-{target}")
        out.append({"target": target, "configured": configured, "task": task, "rows": rows})
    return out


async def system_report(request: web.Request) -> dict[str, Any]:
    """Everything the System page shows, as one value."""
    app = request.config_dict
    ready = await readiness(request)
    letters: list[DeadLetter] = []
    settled = None
    try:
        letters = await app[SETTLEMENT].dead_letters(DEAD_SHOWN)
        settled = await app[STORE].settled_total()
    except StoreUnavailable:
        pass  # readiness already says Redis is down
    return {
        "object": "system",
        "readiness": ready,
        "ledger_rows_written": settled,
        "dead_letters": [dead_letter_json(x) for x in letters],
        "exporters": await _exporters(request, ready.get("tasks", {})),
    }


async def system(request: web.Request) -> web.Response:
    return web.json_response(await system_report(request))


def add_routes(admin: web.Application) -> None:
    declare(admin.router, Route("GET", "/system", system, authority.OPERATOR, doc=ops_doc.SYSTEM))
