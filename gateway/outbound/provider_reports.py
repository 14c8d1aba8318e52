"""Fetching the providers' own usage and cost reports for one UTC day, every page, with the
operator's admin key (gateway/config/reconcile.py); billing/proof/provider_reports.py reads them.

Query strings are written as the official SDKs write them (`Querystring(array_format=
"brackets")` in both `openai/_client.py` and `anthropic/_client.py`: `group_by[]=model`), and
pages are followed by `page=<next_page>` while `has_more` is true. Bodies are decoded with
`parse_float=Decimal`, so OpenAI's numeric amounts keep every digit they were sent with.
These are the provider's hosts the operator configured, as the upstream's are: not an egress
destination a customer gave.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import aiohttp

from gateway.config.reconcile import UpstreamReports
from gateway.scrubbing import kept

TIMEOUT = aiohttp.ClientTimeout(total=60)
MAX_PAGES = 1000  # a provider that keeps saying has_more is refused, never followed forever
ANTHROPIC_VERSION = "2023-06-01"
Params = list[tuple[str, str]]
Page = Mapping[str, Any]

# OpenAI's usage endpoints whose counts Meterway's ledger holds (tokens, images, characters
# of speech, seconds of transcription).
OPENAI_USAGE = ("completions", "embeddings", "images", "audio_speeches", "audio_transcriptions")


class ReportUnavailable(Exception):
    """The provider did not give a report: an HTTP error, a body that is not JSON, or
    endless pages. The run of that day records it and compares nothing. Its text is
    scrubbed (gateway/scrubbing.py): a 401 body repeats the admin key it was sent."""


def _headers(source: UpstreamReports) -> dict[str, str]:
    if source.upstream == "anthropic":
        return {"x-api-key": source.admin_key, "anthropic-version": ANTHROPIC_VERSION}
    return {"Authorization": f"Bearer {source.admin_key}"}


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def _group(names: Sequence[str]) -> Params:
    return [("group_by[]", n) for n in names]


async def pages(
    session: aiohttp.ClientSession, source: UpstreamReports, path: str, params: Params
) -> list[Page]:
    """Every page of one report."""
    out: list[Page] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        query = params + ([("page", cursor)] if cursor else [])
        page = await _get(session, source, path, query)
        out.append(page)
        if page.get("has_more") is not True:
            return out
        cursor = page.get("next_page")
        if not isinstance(cursor, str) or not cursor:
            raise ReportUnavailable(f"{path}: has_more without a next_page")
    raise ReportUnavailable(f"{path}: more than {MAX_PAGES} pages")


async def _get(
    session: aiohttp.ClientSession, source: UpstreamReports, path: str, query: Params
) -> Page:
    url = source.base_url + path
    try:
        async with session.get(
            url, params=query, headers=_headers(source), timeout=TIMEOUT, allow_redirects=False
        ) as resp:
            raw = await resp.read()
            if resp.status != 200:
                said = kept(raw.decode(errors="replace"), [source.admin_key], 200)
                raise ReportUnavailable(f"{path}: HTTP {resp.status}: {said!r}")
    except (aiohttp.ClientError, TimeoutError) as exc:
        said = kept(f"{type(exc).__name__}: {exc}", [source.admin_key])
        raise ReportUnavailable(f"{path}: {said}") from exc
    try:
        page = json.loads(raw, parse_float=Decimal)
    except ValueError as exc:
        raise ReportUnavailable(f"{path}: not JSON") from exc
    if not isinstance(page, dict):
        raise ReportUnavailable(f"{path}: not a JSON object")
    return page


async def openai_reports(
    session: aiohttp.ClientSession, source: UpstreamReports, day: date
) -> tuple[list[Page], list[Page]]:
    """(usage pages of every OPENAI_USAGE endpoint, cost pages) of `day`: usage in 1-hour
    buckets grouped by api key and model, costs in one 1-day bucket by api key and line item
    (the Costs API's only width)."""
    start, end = (str(int(t.timestamp())) for t in _day_bounds(day))
    window = [("start_time", start), ("end_time", end)]
    hours = [*window, ("bucket_width", "1h"), ("limit", "24")]
    usage: list[Page] = []
    for kind in OPENAI_USAGE:
        path = f"/organization/usage/{kind}"
        usage += await pages(session, source, path, hours + _group(("api_key_id", "model")))
    daily = [*window, ("bucket_width", "1d"), ("limit", "1")]
    costs = await pages(
        session, source, "/organization/costs", daily + _group(("api_key_id", "line_item"))
    )
    return usage, costs


async def anthropic_reports(
    session: aiohttp.ClientSession, source: UpstreamReports, day: date
) -> tuple[list[Page], list[Page]]:
    """(Messages usage pages, cost report pages) of `day`: usage in 1-hour buckets grouped
    by api key, workspace and model, costs by workspace and description (model and token
    type: the cost report knows no api keys)."""
    start, end = (t.isoformat().replace("+00:00", "Z") for t in _day_bounds(day))
    window = [("starting_at", start), ("ending_at", end)]
    hours = [*window, ("bucket_width", "1h"), ("limit", "24")]
    usage_group = _group(("api_key_id", "workspace_id", "model"))
    usage = await pages(
        session, source, "/v1/organizations/usage_report/messages", hours + usage_group
    )
    daily = [*window, ("bucket_width", "1d")]
    cost_group = _group(("workspace_id", "description"))
    costs = await pages(session, source, "/v1/organizations/cost_report", daily + cost_group)
    return usage, costs
