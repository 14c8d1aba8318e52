"""The Overview page, rendered on the server from what the account API answers: balance,
limits as gauges, the runway (services/trust/runway.py), spend and tokens over time.

Each section calls the function its /v1/account route calls (`account_overview`, the
directory's usage series as `usage_rows` reads it, `keys_of`) after the same scope check, so
a section the credential's scopes do not cover is left out, as the API would refuse it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any, cast

from aiohttp import web

from gateway.http.appkeys import USAGE
from gateway.http.dashboard.billing import billing_overview, step_view
from gateway.http.dashboard.charts import (
    GRANULARITIES,
    STACKS,
    ChartView,
    buckets,
    chart_view,
    recent,
    stacked,
)
from gateway.http.dashboard.grants_view import grants_view
from gateway.http.dashboard.labels import key_names, labeller, team_names
from gateway.http.dashboard.people.session import account_principal
from gateway.http.dashboard.web import render
from gateway.http.people.signup_flow import trial_answer
from gateway.http.principal import ACCOUNT_READ, USAGE_READ, Principal
from gateway.http.shared.overview import account_overview
from gateway.http.shared.trust.runway import runway_of
from gateway.stores.records import Row


async def chart_rows(
    request: web.Request,
    who: Principal,
    span: tuple[date, date],
    view: ChartView,
    filters: dict[str, str],
) -> list[Row]:
    """The rollups' sums per bucket of the view's granularity (and per stacked value)."""
    by = (view.granularity,) if view.stack == "none" else (view.granularity, view.stack)
    return list(await request.config_dict[USAGE].usage_series(who.account_id, *span, by, filters))


async def spend_section(request: web.Request, who: Principal) -> dict[str, Any]:
    """The charts and the spend by model and by key over the view's span, read at once."""
    view = chart_view(request.query)
    start, end = recent(datetime.now(UTC).date(), view.granularity)
    series = request.config_dict[USAGE].usage_series
    rows, by_model, by_key, keys, teams = await asyncio.gather(
        chart_rows(request, who, (start, end), view, {}),
        series(who.account_id, start, end, ("model",), {}),
        series(who.account_id, start, end, ("key",), {}),
        key_names(request, who),
        team_names(request, who),
    )
    label = labeller(view.stack, keys, teams)
    starts = buckets(start, end, view.granularity)
    spend = stacked(starts, rows, view.granularity, view.stack, "spend_micros", label)
    return {
        "view": view,
        "since": start.isoformat(),
        "daily": spend,
        "tokens": stacked(starts, rows, view.granularity, view.stack, "tokens", label),
        "by_model": by_model,
        "by_key": by_key,
        "key_names": keys,
        "total": sum(spend["values"]),
    }


async def _nothing() -> None:
    return None


async def overview(request: web.Request) -> web.Response:
    """Each section its scope allows, the sections read at once (independent reads)."""
    who = account_principal(request)
    reads_account = who.has(ACCOUNT_READ)
    account, billing, spend, grants, trial = await asyncio.gather(
        account_overview(request, who.account_id, who) if reads_account else _nothing(),
        billing_overview(request, who),
        spend_section(request, who) if who.has(USAGE_READ) else _nothing(),
        grants_view(request, who.account_id) if reads_account else _nothing(),
        trial_answer(request, who.account_id) if reads_account else _nothing(),
    )
    # GET /v1/account's step first: it counts the caller's key and team windows too
    step = account["next"] if account else billing["next"] if billing else None
    outlook = None  # a postpaid account is billed for its use: no credit runs out
    if spend is not None and account is not None and account["mode"] == "prepaid":
        available = cast(int | None, account["available_micros"])  # None: Redis lost it
        outlook = await runway_of(request, who.account_id, available)
    return render(
        request,
        "overview.html",
        title="Overview",
        nav="overview",
        account=account,
        billing=billing,
        next=step_view(cast(dict[str, Any], step)) if step else None,
        spend=spend,
        forecast=outlook,
        granularities=GRANULARITIES,
        stacks=STACKS,
        expiring=grants.expiring if grants is not None else [],
        trial=trial,
    )
