"""Overview and Usage pages, rendered on the server from what the account API answers.

Each section calls the function its /v1/account route calls (`account_overview`,
`usage_rows`, the directory's `keys_of`) after the same scope check, so a section the
credential's scopes do not cover is left out, exactly as the API would refuse it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from aiohttp import web

from gateway.appkeys import DIRECTORY
from gateway.http.account import account_overview
from gateway.http.dashboard.billing import billing_overview, step_view
from gateway.http.dashboard.session import account_principal
from gateway.http.dashboard.web import render
from gateway.http.principal import ACCOUNT_READ, KEYS_READ, USAGE_READ, Principal
from gateway.http.reports import group_by_of, usage_range, usage_response, usage_rows
from gateway.stores.records import USAGE_FIELDS

CHART_DAYS = 30


def daily_series(start: date, end: date, rows: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    """Every day in [start, end) with its sum (0 when the rollups have no row): chart data."""
    by_day = {str(r["day"]): int(r[metric]) for r in rows}
    days = [(start + timedelta(days=i)).isoformat() for i in range((end - start).days)]
    return {"metric": metric, "days": days, "values": [by_day.get(d, 0) for d in days]}


async def _key_names(request: web.Request, who: Principal) -> dict[str, str]:
    if not who.has(KEYS_READ):
        return {}
    rows = await request.config_dict[DIRECTORY].keys_of(who.account_id, include_revoked=True)
    return {r["id"]: f"{r['name']} ({r['key_prefix']}…)" for r in rows}


async def _spend(request: web.Request, who: Principal) -> dict[str, Any]:
    end = datetime.now(UTC).date() + timedelta(days=1)
    start = end - timedelta(days=CHART_DAYS)
    days = await usage_rows(request, who.account_id, start, end, "day")
    return {
        "daily": daily_series(start, end, days, "spend_micros"),
        "by_model": await usage_rows(request, who.account_id, start, end, "model"),
        "by_key": await usage_rows(request, who.account_id, start, end, "key"),
        "key_names": await _key_names(request, who),
        "total": sum(r["spend_micros"] for r in days),
    }


async def overview(request: web.Request) -> web.Response:
    who = account_principal(request)
    account = await account_overview(request, who.account_id) if who.has(ACCOUNT_READ) else None
    billing = await billing_overview(request, who)
    step = billing["next"] if billing else account["next"] if account else None
    spend = await _spend(request, who) if who.has(USAGE_READ) else None
    return render(
        request,
        "overview.html",
        title="Overview",
        nav="overview",
        account=account,
        billing=billing,
        next=step_view(cast(dict[str, Any], step)) if step else None,
        spend=spend,
    )


def _filters(request: web.Request) -> dict[str, str]:
    q = request.query
    metric = q.get("metric", "spend_micros")
    return {
        "from": q.get("from", ""),
        "to": q.get("to", ""),
        "group_by": q.get("group_by", "day"),
        "model": q.get("model", ""),
        "key_id": q.get("key_id", ""),
        "meter": q.get("meter", ""),
        "end_user": q.get("end_user", ""),
        "metric": metric if metric in USAGE_FIELDS else "spend_micros",
    }


async def usage(request: web.Request) -> web.Response:
    who = account_principal(request)
    who.require(USAGE_READ)
    start, end = usage_range(request)
    group_by = group_by_of(request)
    rows = await usage_rows(request, who.account_id, start, end, group_by)
    filters = _filters(request)
    chart = daily_series(start, end, rows, filters["metric"]) if group_by == "day" else None
    export = {k: v for k, v in filters.items() if v and k != "metric"} | {"format": "csv"}
    return render(
        request,
        "usage.html",
        title="Usage",
        nav="usage",
        rows=rows,
        group_by=group_by,
        start=start.isoformat(),
        end=end.isoformat(),
        filters=filters,
        metrics=USAGE_FIELDS,
        chart=chart,
        totals={f: sum(r[f] for r in rows) for f in USAGE_FIELDS},
        key_names=await _key_names(request, who),
        export=request.url.with_path(request.path + "/export").with_query(export).path_qs,
    )


async def usage_export(request: web.Request) -> web.StreamResponse:
    """The API's own CSV (GET /v1/account/usage?format=csv), as a download."""
    who = account_principal(request)
    who.require(USAGE_READ)
    response = await usage_response(request, who.account_id)
    response.headers["Content-Disposition"] = 'attachment; filename="meterway-usage.csv"'
    return response
