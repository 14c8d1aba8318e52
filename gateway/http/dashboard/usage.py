"""The usage explorer (/dashboard/usage) and a request's page (/dashboard/usage/requests/ID).

The explorer's sums are the usage API's report (`usage_rows`, the same filters and groups as
GET /v1/account/usage, so its CSV download is the page's table; a tag the caller's keys or
teams carry is one more group); its chart is the same rollups
over time; its entries are the account ledger's rows (`account:read`), each linking to its
request's page: every ledger row of the request and the price arithmetic of its debit, as
`meterway prices explain` prints it.
"""

from __future__ import annotations

import asyncio
from datetime import date

from aiohttp import web

from billing.usage.tags import GROUP_PREFIX
from gateway.http.appkeys import LEDGER
from gateway.http.dashboard.account import chart_rows
from gateway.http.dashboard.charts import GRANULARITIES, STACKS, buckets, chart_view, stacked
from gateway.http.dashboard.labels import KINDS, key_names, labeller, named
from gateway.http.dashboard.people.session import account_principal
from gateway.http.dashboard.web import render
from gateway.http.principal import ACCOUNT_READ, USAGE_READ, Principal
from gateway.http.shared.overview import customer_arithmetic, request_cost_within, show_cost
from gateway.http.shared.usage.reports import (
    FILTERS,
    GROUPS,
    entry_filter,
    group_by_of,
    usage_filters,
    usage_range,
    usage_response,
    usage_rows,
)
from gateway.stores.records import LEDGER_KINDS, USAGE_FIELDS, Row

CHART_METRICS = ("spend_micros", "tokens", *(f for f in USAGE_FIELDS if f != "spend_micros"))
ENTRIES = 50
# The report's filters typed as text, by query parameter (the key and team filters are lists
# of the account's own): a dimension added to FILTERS gets its field with one line here.
TEXT_FILTERS = {"model": "Model", "meter": "Meter", "end_user": "End user"}
# The page's own fields beside the report's filters (FILTERS) and group_by.
VIEW_FIELDS = ("from", "to", "group_by", "metric", "granularity", "stack", "ledger_kind")


def _fields(request: web.Request) -> dict[str, str]:
    q = request.query
    fields = {name: q.get(name, "") for name in (*VIEW_FIELDS, *FILTERS)}
    if fields["metric"] not in CHART_METRICS:
        fields["metric"] = "spend_micros"
    if fields["ledger_kind"] not in LEDGER_KINDS:
        fields["ledger_kind"] = ""
    return fields


async def _entries(
    request: web.Request, who: Principal, span: tuple[date, date], fields: dict[str, str]
) -> list[Row] | None:
    """The last ledger rows written in the range, of the filters the ledger has (kind,
    model, key, team; a meter or kind of usage filters the sums only): the page GET
    /v1/account/ledger answers for the same filters. None without `account:read`."""
    if not who.has(ACCOUNT_READ):
        return None
    kind = fields["ledger_kind"] or None
    filters = await entry_filter(request, who.account_id, kind, span, who.reach)
    ledger = request.config_dict[LEDGER]
    return await ledger.entries(who.account_id, before=None, limit=ENTRIES, filters=filters)


async def usage(request: web.Request) -> web.Response:
    who = account_principal(request)
    who.require(USAGE_READ)
    start, end = usage_range(request)
    group_by = group_by_of(request)
    fields = _fields(request)
    view = chart_view(request.query)
    rows, series, names, entries = await asyncio.gather(
        usage_rows(request, who.account_id, start, end, group_by),
        chart_rows(request, who, (start, end), view, usage_filters(request)),
        named(request, who),
        _entries(request, who, (start, end), fields),
    )
    keys, teams = names.keys, names.teams
    chart = stacked(
        buckets(start, end, view.granularity),
        series,
        view.granularity,
        view.stack,
        fields["metric"],
        labeller(view.stack, keys, teams),
    )
    export = {k: v for k, v in request.query.items() if v} | {"format": "csv"}
    return render(
        request,
        "usage.html",
        title="Usage",
        nav="usage",
        rows=rows,
        group_by=group_by,
        label=labeller(group_by, keys, teams),
        start=start.isoformat(),
        end=end.isoformat(),
        filters=fields,
        groups=(*GROUPS, *(f"{GROUP_PREFIX}{t}" for t in names.tags)),
        metrics=CHART_METRICS,
        granularities=GRANULARITIES,
        stacks=STACKS,
        kinds=KINDS,
        text_filters=TEXT_FILTERS,
        ledger_kinds=LEDGER_KINDS,
        chart=chart,
        totals={f: sum(r[f] for r in rows) for f in USAGE_FIELDS},
        key_names=keys,
        team_names=teams,
        entries=entries,
        export=request.url.with_path(request.path + "/export").with_query(export).path_qs,
    )


async def usage_export(request: web.Request) -> web.StreamResponse:
    """The API's own CSV (GET /v1/account/usage?format=csv), as a download."""
    who = account_principal(request)
    who.require(USAGE_READ)
    response = await usage_response(request, who.account_id, show_cost=show_cost(request))
    response.headers["Content-Disposition"] = 'attachment; filename="meterway-usage.csv"'
    return response


async def request_page(request: web.Request) -> web.Response:
    """Every ledger row of one request of the account, and its debit's price arithmetic."""
    who = account_principal(request)
    who.require(ACCOUNT_READ)
    rid = request.match_info["request_id"]
    cost = await request_cost_within(request, who, rid)
    return render(
        request,
        "request.html",
        title=f"Request {rid}",
        nav="usage",
        request_id=rid,
        entries=cost.entries,
        debit=cost.debit,
        arithmetic=customer_arithmetic(cost, show_cost(request)),
        key_names=await key_names(request, who),
    )
