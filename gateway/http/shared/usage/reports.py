"""Usage and ledger reports as the account and operator APIs both answer them.

Usage comes from the settler's rollups (never a ledger scan); one bucket per UTC day, model,
key, meter, team, member, end user or value of a tag (`tag:<name>`), as JSON or CSV. The
ledger is paginated newest first by entry id.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from aiohttp import web

from billing.contracts.reseller import columns_for_customer, for_customer
from billing.csv_cells import csv_text
from billing.usage.tags import TagSpecError, tag_group, tag_of
from gateway.errors import InvalidRequest
from gateway.http.appkeys import LEDGER, TEAMS, USAGE
from gateway.http.serialize import entry_json
from gateway.http.whole import parse_whole
from gateway.stores.records import (
    COST_FIELDS,
    LEDGER_KINDS,
    MARGIN_FIELDS,
    USAGE_FIELDS,
    EntryFilter,
)

MAX_PAGE = 500
MAX_RANGE_DAYS = 400


def query_text(request: web.Request, name: str) -> str | None:
    """A text value of the query; one with a NUL (which no stored value holds, and PostgreSQL
    cannot compare) is refused, naming it."""
    value = request.query.get(name)
    if value is not None and "\x00" in value:
        raise InvalidRequest(f"'{name}' must not contain NUL.", param=name)
    return value


def _optional_day(request: web.Request, name: str) -> date | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidRequest(f"'{name}' must be a date like 2026-01-31.", param=name) from exc


def _day(request: web.Request, name: str, default: date) -> date:
    found = _optional_day(request, name)
    return default if found is None else found


def usage_range(request: web.Request) -> tuple[date, date]:
    """[from, to) in UTC days; `to` defaults to tomorrow, `from` to 30 days before `to` (or
    the first day a date names: `to=0001-01-15` alone is a range, with no usage in it)."""
    today = datetime.now(UTC).date()
    end = _day(request, "to", today + timedelta(days=1))
    start = _day(request, "from", date.fromordinal(max(1, end.toordinal() - 30)))
    if start >= end or (end - start).days > MAX_RANGE_DAYS:
        raise InvalidRequest(
            f"'from' must be before 'to', at most {MAX_RANGE_DAYS} days apart.", param="from"
        )
    return start, end


def _choice(request: web.Request, name: str, options: tuple[str, ...]) -> str:
    value = request.query.get(name, options[0])
    if value not in options:
        raise InvalidRequest(f"'{name}' must be one of {', '.join(options)}.", param=name)
    return value


def _csv(
    account_id: str, group_by: str, rows: list[dict[str, Any]], show_cost: bool
) -> web.Response:
    fields = columns_for_customer((*USAGE_FIELDS, *MARGIN_FIELDS), show_cost)
    cells = [[account_id, row[group_by], *(row[f] for f in fields)] for row in rows]
    text = csv_text(("account_id", group_by, *fields), cells)
    return web.Response(text=text, content_type="text/csv")


GROUPS = ("day", "model", "key", "meter", "team", "member", "week", "month", "kind", "end_user")
# A usage report's filters: query parameter -> the dimension it keeps one value of
# (stores/postgres/rollups.DIMENSIONS). A new dimension is a line in DIMENSIONS, its name in
# GROUPS (and GroupBy), a line here, and a line in the dashboard's TEXT_FILTERS
# (http/dashboard/usage.py) for its field.
FILTERS = {
    "model": "model",
    "key_id": "key",
    "meter": "meter",
    "team_id": "team",
    "kind": "kind",
    "end_user": "end_user",
}


def group_by_of(request: web.Request) -> str:
    """One of GROUPS, or `tag:<name>`: a tag's values ('' for usage without the tag)."""
    value = request.query.get("group_by", GROUPS[0])
    if value in GROUPS:
        return value
    try:
        if tag_group(value) is not None:
            return value
    except TagSpecError as exc:
        raise InvalidRequest(str(exc), param="group_by") from exc
    words = ", ".join(GROUPS)
    raise InvalidRequest(f"'group_by' must be one of {words}, or tag:<name>.", param="group_by")


def usage_filters(request: web.Request) -> dict[str, str]:
    """The query's filters by dimension; an empty value is no filter (so an empty `meter`
    is not a filter: LLM calls are the meter named '', or `kind=tokens`)."""
    found = {dim: query_text(request, name) for name, dim in FILTERS.items()}
    return {dim: value for dim, value in found.items() if value}


async def usage_rows(
    request: web.Request, account_id: str, start: date, end: date, group_by: str
) -> list[dict[str, Any]]:
    """One dict per bucket with every usage sum, filtered by the query (`usage_filters`).
    By end user or tag, '' is the usage of calls that named none."""
    filters = usage_filters(request)
    try:
        tag_of((group_by,), filters)
    except TagSpecError as exc:
        raise InvalidRequest(str(exc), param="group_by") from exc
    records = await request.config_dict[USAGE].usage_series(
        account_id, start, end, (group_by,), filters
    )
    return [{group_by: r[group_by], **_sums(r)} for r in records]


def _sums(r: Mapping[str, Any]) -> dict[str, int]:
    """A bucket's sums, with its gross margin: what was charged less the provider's cost."""
    sums = {f: int(r[f]) for f in (*USAGE_FIELDS, *COST_FIELDS)}
    sums["gross_margin_micros"] = sums["spend_micros"] - sums["provider_cost_micros"]
    return sums


async def usage_response(
    request: web.Request, account_id: str, *, show_cost: bool = True
) -> web.Response:
    """A usage report as JSON or CSV; `show_cost` False (a customer's, unless the operator
    shows it) leaves out the provider's cost and the margin."""
    start, end = usage_range(request)
    group_by = group_by_of(request)
    fmt = _choice(request, "format", ("json", "csv"))
    rows = await usage_rows(request, account_id, start, end, group_by)
    if fmt == "csv":
        return _csv(account_id, group_by, rows, show_cost)
    totals = {f: sum(r[f] for r in rows) for f in (*USAGE_FIELDS, *MARGIN_FIELDS)}
    return json_for(
        show_cost,
        {
            "object": "usage_report",
            "account_id": account_id,
            "from": start.isoformat(),
            "to": end.isoformat(),
            "group_by": group_by,
            "data": rows,
            "totals": totals,
        },
    )


def _whole(request: web.Request, name: str) -> int | None:
    """A page's `limit` or `before`: absent, or a whole number from 1 (gateway/http/whole.py)."""
    raw = request.query.get(name)
    return None if raw is None else parse_whole(raw, name, minimum=1)


def _page_args(request: web.Request) -> tuple[int, int | None]:
    asked, before = _whole(request, "limit"), _whole(request, "before")
    return 50 if asked is None else min(asked, MAX_PAGE), before


async def entry_filter(
    request: web.Request,
    account_id: str,
    kind: str | None,
    span: tuple[date | None, date | None],
    reach: str | None = None,
) -> EntryFilter:
    """The ledger rows the query keeps: `model`, `key_id`, `team_id` (empty: any), the kind
    and the days [from, to) the caller read, and for a caller kept to one member's keys
    (`reach`) only their rows. A key or team of another account (or a key out of reach) is
    refused (400 naming it), never answered with an empty page that reads as "no use"."""
    key_id, team_id = query_text(request, "key_id") or None, query_text(request, "team_id") or None
    if key_id is not None:
        key = await request.config_dict[LEDGER].get_key(key_id)
        if key is None or key["account_id"] != account_id or not _reaches(reach, key):
            raise InvalidRequest("No key with this id on the account.", param="key_id")
    if team_id is not None:
        team = await request.config_dict[TEAMS].get(team_id)
        if team is None or team["account_id"] != account_id:
            raise InvalidRequest("No team with this id on the account.", param="team_id")
    since, until = (None if d is None else datetime.combine(d, time(), tzinfo=UTC) for d in span)
    model = query_text(request, "model") or None
    return EntryFilter(kind, model, key_id, team_id, since, until, reach)


def _reaches(reach: str | None, key: Mapping[str, Any]) -> bool:
    return reach is None or key.get("member_id") == reach


def _ledger_kind(request: web.Request) -> str | None:
    kind = request.query.get("kind") or None
    if kind is not None and kind not in LEDGER_KINDS:
        raise InvalidRequest(f"'kind' must be one of {', '.join(LEDGER_KINDS)}.", param="kind")
    return kind


def _ledger_span(request: web.Request) -> tuple[date | None, date | None]:
    """Optional [from, to) days: no bound where one is not given."""
    start, end = _optional_day(request, "from"), _optional_day(request, "to")
    if start is not None and end is not None and start >= end:
        raise InvalidRequest("'from' must be before 'to'.", param="from")
    return start, end


async def ledger_response(
    request: web.Request, account_id: str, reach: str | None = None, *, show_cost: bool = True
) -> web.Response:
    """A page of the ledger, of the filters the query gives (kind, model, key_id, team_id,
    from, to) and, for a caller kept to one member's keys, of theirs only; `next_before`
    pages on under the same filters; the provider's cost only where `show_cost`."""
    limit, before = _page_args(request)
    kind, span = _ledger_kind(request), _ledger_span(request)
    filters = await entry_filter(request, account_id, kind, span, reach)
    rows = await request.config_dict[LEDGER].entries(
        account_id, before=before, limit=limit + 1, filters=filters
    )
    page = rows[:limit]
    more = len(rows) > limit
    return json_for(
        show_cost,
        {
            "object": "list",
            "data": [entry_json(r) for r in page],
            "has_more": more,
            "next_before": page[-1]["id"] if more else None,
            "as_of": datetime.now(UTC).isoformat(),
        },
    )


def json_for(show_cost: bool, body: dict[str, Any], status: int = 200) -> web.Response:
    """A JSON answer as its reader may see it: without the operator's markup, provider
    cost and margin unless `show_cost` (billing/contracts/reseller.py)."""
    return web.json_response(for_customer(body, show_cost), status=status)
