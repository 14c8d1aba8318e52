"""The dashboard's chart data: buckets of a day, week (from Monday) or month, and a metric
over them stacked by a dimension with the smallest parts summed as "Other"."""

from __future__ import annotations

from datetime import date

from gateway.http.dashboard.charts import OTHER, TOP, buckets, chart_view, recent, stacked


def test_recent_spans_end_tomorrow_and_start_on_a_bucket() -> None:
    today = date(2026, 11, 25)  # a Wednesday
    assert recent(today, "day") == (date(2026, 10, 27), date(2026, 11, 26))
    assert recent(today, "week") == (date(2026, 9, 7), date(2026, 11, 26))  # a Monday
    assert recent(today, "month") == (date(2025, 12, 1), date(2026, 11, 26))
    assert len(buckets(*recent(today, "day"), "day")) == 30
    assert len(buckets(*recent(today, "week"), "week")) == 12
    months = buckets(*recent(today, "month"), "month")
    assert len(months) == 12 and months[0] == date(2025, 12, 1) and months[1] == date(2026, 1, 1)


def test_buckets_of_a_range_not_on_a_boundary() -> None:
    assert buckets(date(2026, 1, 31), date(2026, 3, 2), "month") == [
        date(2026, 1, 1),
        date(2026, 2, 1),
        date(2026, 3, 1),
    ]
    assert buckets(date(2026, 11, 25), date(2026, 11, 26), "week") == [date(2026, 11, 23)]


def row(day: str, model: str, spend: int, inp: int = 0, out: int = 0) -> dict[str, object]:
    return {"day": day, "model": model, "spend_micros": spend, "input_tokens": inp,
            "output_tokens": out}  # fmt: skip


def test_stacked_series_sum_to_the_totals_largest_first() -> None:
    starts = [date(2026, 1, 1), date(2026, 1, 2)]
    rows = [row("2026-01-01", "a", 5), row("2026-01-02", "b", 7), row("2026-01-02", "a", 1)]
    chart = stacked(starts, rows, "day", "model", "spend_micros", str.upper)
    assert chart["days"] == ["2026-01-01", "2026-01-02"] and chart["values"] == [5, 8]
    assert chart["series"] == [
        {"label": "B", "values": [0, 7]},
        {"label": "A", "values": [5, 1]},
    ]
    tokens = stacked(starts, [row("2026-01-02", "a", 1, 10, 3)], "day", "none", "tokens", str)
    assert tokens["values"] == [0, 13] and tokens["series"] == [{"label": "All", "values": [0, 13]}]


def test_beyond_the_top_parts_are_other_and_empty_is_zero() -> None:
    starts = [date(2026, 1, 1)]
    rows = [row("2026-01-01", f"m{i}", 10 + i) for i in range(TOP + 2)]
    chart = stacked(starts, rows, "day", "model", "spend_micros", str)
    assert len(chart["series"]) == TOP and chart["series"][-1]["label"] == OTHER
    assert chart["series"][-1]["values"] == [10 + 11 + 12]  # the three smallest
    assert chart["values"] == [sum(10 + i for i in range(TOP + 2))]
    empty = stacked(starts, [], "day", "model", "spend_micros", str)
    assert empty["values"] == [0] and empty["series"] == []


def test_chart_view_defaults_unknown_values() -> None:
    assert chart_view({"granularity": "week", "stack": "team"}).granularity == "week"
    view = chart_view({"granularity": "year", "stack": "; drop"})
    assert (view.granularity, view.stack) == ("day", "none")
