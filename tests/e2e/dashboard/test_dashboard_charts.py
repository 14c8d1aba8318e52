"""The dashboard's charts in headless Chromium, filled from ledger rows the test makes (chat
calls today on two keys, one in a team, and metered events backdated by the metering API):
spend and tokens per day, week and month, stacked by model, key and team, checked against the
ledger in the chart's data and its table; the runway; quota windows as gauges;
no console errors or failed requests; screenshots light and dark at both widths."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from playwright.async_api import Page

from billing.money.display import usage_label, usd
from billing.trust.runway import BASIS_DAYS, runway
from gateway.http.dashboard.charts import bucket_start
from tests.e2e.dashboard.test_dashboard import SCOPES, chat
from tests.support.browser_kit import Problems, light_and_dark, overflow_px, sign_in
from tests.support.factories import Tenant, ledger, tenant
from tests.support.harness import Gateway
from tests.support.metering_client import event, service


@dataclass
class Scene:
    t: Tenant
    other_key: str
    other_key_id: str
    team_id: str
    entries: list[dict[str, Any]]


async def scene(gw: Gateway) -> Scene:
    """Usage on several days, models, keys and teams, all through the gateway's own APIs:
    gpt-4o-mini twice on the first key, gpt-4o once on a second key in team 'research',
    and GPU seconds metered 3 and 12 days ago."""
    t = await tenant(gw, credit=50_000_000, scopes=SCOPES)
    status, key = await gw.admin(
        "POST", "/admin/v1/keys", {"account_id": t.account_id, "name": "batch", "scopes": SCOPES}
    )
    assert status == 201, key
    path = f"/admin/v1/accounts/{t.account_id}/teams"
    status, team = await gw.admin("POST", path, {"name": "research", "quotas": []})
    assert status == 201, team
    status, body = await gw.admin(
        "PUT", f"/admin/v1/keys/{key['id']}/team", {"team_id": team["id"]}
    )
    assert status == 200, body
    await chat(gw, t.key)
    await chat(gw, t.key)
    await chat(gw, key["key"], model="gpt-4o")
    svc = await service(gw, "gpu_seconds")
    now = datetime.now(UTC)
    events = []
    for days, qty in ((3, 400), (12, 900)):
        e = event(t.account_id, "gpu_seconds", qty, f"gpu-{days}")
        e["occurred_at"] = (now - timedelta(days=days)).isoformat()
        events.append(e)
    status, body = await svc.events(events)
    assert status in (200, 201) and body["debited"] == 2, body
    await gw.settle_all()
    rows = await ledger(gw, t.account_id)
    return Scene(t, key["key"], key["id"], team["id"], [e for e in rows if e["kind"] == "debit"])


def when(entry: dict[str, Any]) -> date:
    return datetime.fromisoformat(entry["occurred_at"]).astimezone(UTC).date()


def expected(s: Scene, granularity: str, stack: str, metric: str) -> dict[str, dict[str, int]]:
    """From the ledger: {bucket: {stacked value: sum}} of spend or tokens."""
    teams = {s.other_key_id: s.team_id}
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for e in s.entries:
        part = {
            "none": "",
            "model": e["model"] or "",
            "key": e["key_id"] or "",
            "team": teams.get(e["key_id"] or "", ""),
        }[stack]
        value = -e["amount_micros"] if metric == "spend_micros" else (
            (e["input_tokens"] or 0) + (e["output_tokens"] or 0)
        )  # fmt: skip
        out[bucket_start(when(e), granularity).isoformat()][part] += value
    return out


async def chart_data(page: Page, chart_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(await page.inner_text(f"script[data-chart={chart_id}]"))
    return data


def charted(data: dict[str, Any], labels: dict[str, str]) -> dict[str, dict[str, int]]:
    """The chart's data as {bucket: {stacked value: sum}}, its labels mapped back to values."""
    back = {v: k for k, v in labels.items()}
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for series in data["series"]:
        for day, value in zip(data["days"], series["values"], strict=True):
            if value:
                out[day][back.get(series["label"], series["label"])] = value
    return out


async def table_rows(page: Page, chart_id: str) -> list[list[str]]:
    await page.click(f"#{chart_id}-figure summary")
    rows = page.locator(f"#{chart_id}-table tbody tr")
    return [
        [c.strip() for c in (await rows.nth(i).inner_text()).split("\t")]
        for i in range(await rows.count())
    ]


async def test_charts_match_the_ledger_by_day_week_and_month_stacked_by_model_key_and_team(
    gw: Gateway, page: Page
) -> None:
    s = await scene(gw)
    problems = Problems(page)
    await sign_in(page, s.t.key)
    labels = {
        "none": {"": "All"},
        "model": {"": usage_label("model", ""), "gpt-4o-mini": "gpt-4o-mini", "gpt-4o": "gpt-4o"},
        "key": {"": usage_label("key", "")},
        "team": {"": "No team", s.team_id: "research"},
    }
    for granularity, stack in (("day", "none"), ("week", "model"), ("month", "key"),
                               ("week", "team"), ("day", "model")):  # fmt: skip
        await page.click(f"#gran-{granularity}")  # the links: a real page load each
        await page.click(f"#stack-{stack}")
        assert await page.get_attribute(f"#gran-{granularity}", "aria-current") == "true"
        spend = await chart_data(page, "chart-daily")
        tokens = await chart_data(page, "chart-tokens")
        assert (spend["granularity"], spend["stack"]) == (granularity, stack)
        names = labels[stack]
        if stack == "key":
            names = {k: v for k, v in names.items()} | {
                s.t.key_id: next(x["label"] for x in spend["series"] if "(mw-" in x["label"]
                                 and not x["label"].startswith("batch")),
                s.other_key_id: next(x["label"] for x in spend["series"]
                                     if x["label"].startswith("batch")),
            }  # fmt: skip
        want = expected(s, granularity, stack, "spend_micros")
        assert charted(spend, names) == want, (granularity, stack)
        want_tokens = {b: {k: v for k, v in p.items() if v} for b, p in
                       expected(s, granularity, stack, "tokens").items()}  # fmt: skip
        assert charted(tokens, names) == {b: p for b, p in want_tokens.items() if p}
        totals = {d: v for d, v in zip(spend["days"], spend["values"], strict=True) if v}
        assert totals == {b: sum(p.values()) for b, p in want.items()}
        await page.wait_for_selector("#chart-daily canvas")  # uPlot drew it
        assert await page.get_attribute("#chart-daily", "data-drawn") == str(len(spend["days"]))
        assert await page.get_attribute("#chart-daily", "data-parts") == str(
            max(1, len(spend["series"]))
        )
        # The table a screen reader reads has the same numbers, as dollars.
        table = {r[0]: r[1:] for r in await table_rows(page, "chart-daily")}
        for day, total in totals.items():
            shown = day[:7] if granularity == "month" else day
            assert table[shown][-1] == usd(total), (granularity, stack, day)
            if len(spend["series"]) > 1:
                parts = [usd(x["values"][spend["days"].index(day)]) for x in spend["series"]]
                assert table[shown][:-1] == parts
    assert len(spend["days"]) == 30
    assert await page.locator("#chart-daily-figure .legend li").count() == len(spend["series"])
    assert await overflow_px(page) == 0
    await page.click("#gran-month")
    await page.click("#stack-model")
    await page.wait_for_selector("#chart-daily canvas")
    await light_and_dark(page, "overview-charts-month")
    await page.click("#gran-week")
    await page.wait_for_selector("#chart-daily canvas")
    await light_and_dark(page, "overview-charts")
    assert problems.found == []


async def test_the_runway_says_how_long_the_credit_lasts(gw: Gateway, page: Page) -> None:
    idle = await tenant(gw, scopes=SCOPES)
    await sign_in(page, idle.key)
    assert await page.inner_text("#forecast") == (
        "No spend in the last 7 days, so there is no forecast."
    )
    postpaid = await tenant(gw, plan="enterprise", scopes=SCOPES)
    await sign_in(page, postpaid.key)  # billed for its use: no credit runs out, no words
    assert await page.locator("#forecast").count() == 0
    assert await page.locator("#chart-daily").count() == 1
    s = await scene(gw)
    problems = Problems(page)
    await sign_in(page, s.t.key)
    status, account = await gw.admin("GET", f"/admin/v1/accounts/{s.t.account_id}")
    assert status == 200
    today = datetime.now(UTC).date()
    days = [0] * BASIS_DAYS  # the whole days before today: today's calls are not yet a day
    for e in s.entries:
        if today - timedelta(days=BASIS_DAYS) <= when(e) < today:
            days[(when(e) - today).days + BASIS_DAYS] -= e["amount_micros"]
    outlook = runway(datetime.now(UTC), account["available_micros"], days)
    assert outlook.rate_micros > 0
    text = await page.inner_text("#forecast")
    assert text == outlook.words
    assert usd(outlook.rate_micros) in text  # the 12-day-old event is outside the rate
    assert problems.found == []


async def test_quota_windows_are_gauges_with_their_reset_times(gw: Gateway, page: Page) -> None:
    t = await tenant(gw, plan="free", scopes=SCOPES)
    for _ in range(5):  # the free plan allows 20 requests a minute
        await chat(gw, t.key)
    await gw.settle_all()
    problems = Problems(page)
    await sign_in(page, t.key)
    gauge = page.locator("li.window", has_text="requests per minute").first
    svg = gauge.locator("svg.gauge")
    assert await svg.get_attribute("aria-label") == "requests per minute: 25% used"
    assert await svg.locator("path.fill").get_attribute("stroke-dasharray") == "25 100"
    assert await svg.locator("text").text_content() == "25%"
    assert "5 of 20 used" in await gauge.inner_text()
    reset = await gauge.locator(".wreset").inner_text()
    assert reset.startswith("Resets in ") and reset.endswith(" UTC)"), reset
    total = page.locator("li.window", has_text="in total")
    if await total.count():
        assert "Never resets" in await total.first.inner_text()
    await light_and_dark(page, "overview-gauges")
    assert problems.found == []


async def test_an_empty_chart_says_so_instead_of_an_axis_of_zeros(gw: Gateway, page: Page) -> None:
    """Issue 48: a new account's charts labelled their axis "$0.000001" three times."""
    t = await tenant(gw, scopes=SCOPES)
    await sign_in(page, t.key)
    await page.goto("/dashboard/")
    for chart in ("#chart-daily", "#chart-tokens"):
        await page.wait_for_selector(f"{chart}.plot-empty")
        assert await page.inner_text(chart) == "Nothing to chart in this period yet."
        assert await page.locator(f"{chart} canvas").count() == 0
    assert "$0.000001" not in await page.inner_text("main")
