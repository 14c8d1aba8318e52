"""What the operator API and the console show of the reconciliation against the providers
(billing/proof/reconcile.py): the differences of a UTC day, or of every day kept, as JSON rows or
CSV (the export), and the runs that found them. Each row says what valued it (`valued_by`)
and, when its day's newest run could not read the reports, that run (`failed_run_at`,
`failed_run_error`): the row is the last good run's, never erased by a failed read."""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web

from billing.csv_cells import csv_text
from gateway.errors import InvalidRequest
from gateway.http.appkeys import STORES
from gateway.stores.records import Row

COLUMNS = (
    "credential", "day", "model", "kind", "class", "provider_tokens", "ledger_tokens",
    "provider_micros", "ledger_micros", "delta_micros", "note", "valued_by", "failed_run_at",
    "failed_run_error",
)  # fmt: skip


def chosen_day(request: web.Request) -> date | None:
    """`day` (YYYY-MM-DD) from the query; none: every day kept."""
    raw = request.query.get("day")
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidRequest("'day' must be a date like 2026-11-26.", param="day") from exc


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _json(row: Row) -> dict[str, Any]:
    return {c: _iso(row[c]) for c in COLUMNS}


async def differences(request: web.Request, day: date | None) -> list[dict[str, Any]]:
    port = request.config_dict[STORES].provider_reconciliation()
    return [_json(r) for r in await port.differences(day)]


async def runs(request: web.Request) -> list[dict[str, Any]]:
    port = request.config_dict[STORES].provider_reconciliation()
    return [{k: _iso(v) for k, v in r.items()} for r in await port.runs()]


def as_csv(rows: list[dict[str, Any]]) -> web.Response:
    text = csv_text(COLUMNS, [[row[c] for c in COLUMNS] for row in rows])
    return web.Response(text=text, content_type="text/csv")
