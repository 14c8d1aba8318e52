"""Chart data for the dashboard: time buckets of a day, week or month, and a usage metric over
them stacked by one dimension (model, key, team, ...). Pure: rows in, a JSON-able series out.

The series is what `static/dashboard.js` draws with uPlot and what `_chart.html` lists in its
table, so the picture and the numbers read by a screen reader are the same values.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

GRANULARITIES = {"day": 30, "week": 12, "month": 12}  # how many buckets a chart shows
STACKS = ("none", "model", "key", "team", "kind")
TOP = 6  # stacked series drawn apart; the rest are summed as "Other"
OTHER = "Other"


def bucket_start(day: date, granularity: str) -> date:
    """The first day of the bucket `day` falls in (weeks start on Monday, ISO)."""
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return day


def _months_back(first: date, n: int) -> date:
    months = first.year * 12 + first.month - 1 - n
    return date(months // 12, months % 12 + 1, 1)


def recent(today: date, granularity: str) -> tuple[date, date]:
    """[start, end) of the last GRANULARITIES[g] buckets up to and including today's."""
    n = GRANULARITIES[granularity]
    current = bucket_start(today, granularity)
    if granularity == "week":
        start = current - timedelta(weeks=n - 1)
    elif granularity == "month":
        start = _months_back(current, n - 1)
    else:
        start = current - timedelta(days=n - 1)
    return start, today + timedelta(days=1)


def buckets(start: date, end: date, granularity: str) -> list[date]:
    """Every bucket meeting [start, end), by its first day (the first may begin before)."""
    out, at = [], bucket_start(start, granularity)
    while at < end:
        out.append(at)
        at = (
            at + timedelta(days=7 if granularity == "week" else 1)
            if granularity != "month"
            else _months_back(at, -1)
        )
    return out


def metric_of(row: Mapping[str, Any], metric: str) -> int:
    """A row's value of a chart metric; `tokens` is input plus output tokens."""
    if metric == "tokens":
        return int(row["input_tokens"]) + int(row["output_tokens"])
    return int(row[metric])


def stacked(
    starts: Sequence[date],
    rows: Sequence[Mapping[str, Any]],
    granularity: str,
    stack: str,
    metric: str,
    label: Callable[[str], str],
) -> dict[str, Any]:
    """The metric per bucket (`days`, `values`: the totals) and per stacked value (`series`,
    largest total first, beyond TOP - 1 of them summed as "Other"); rows carry the bucket
    under `granularity` and, when stacking, the value under `stack`."""
    index = {d.isoformat(): i for i, d in enumerate(starts)}
    per: dict[str, list[int]] = defaultdict(lambda: [0] * len(starts))
    for row in rows:
        at = index.get(str(row[granularity]))
        if at is not None:
            per["" if stack == "none" else str(row[stack])][at] += metric_of(row, metric)
    ranked = sorted(per.items(), key=lambda kv: (-sum(kv[1]), kv[0]))
    if len(ranked) > TOP:
        rest = [sum(col) for col in zip(*(v for _, v in ranked[TOP - 1 :]), strict=True)]
        ranked = [*ranked[: TOP - 1], (OTHER, rest)]
    series = [
        {"label": "All" if stack == "none" else name if name == OTHER else label(name), "values": v}
        for name, v in ranked
    ]
    totals = [sum(col) for col in zip(*(s["values"] for s in series), strict=True)] or [
        0 for _ in starts
    ]
    return {
        "metric": metric,
        "granularity": granularity,
        "stack": stack,
        "days": [d.isoformat() for d in starts],
        "values": totals,
        "series": series,
    }


@dataclass(frozen=True, slots=True)
class ChartView:
    """What a chart shows over time: buckets of a day, week or month, stacked by a dimension."""

    granularity: str = "day"
    stack: str = "none"


def chart_view(query: Mapping[str, str]) -> ChartView:
    """From the page's query (`granularity`, `stack`); an unknown value is the default."""
    granularity = query.get("granularity", "day")
    stack = query.get("stack", "none")
    return ChartView(
        granularity if granularity in GRANULARITIES else "day",
        stack if stack in STACKS else "none",
    )
