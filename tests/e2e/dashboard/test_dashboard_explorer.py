"""The usage explorer in headless Chromium over ledger rows the test makes: filters (dates,
team, kind of usage, key), grouping (model, week, kind), the CSV download equal to the page's
table, the ledger entries of a kind, and a request's page with its rows and price arithmetic."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from playwright.async_api import Page

from billing.money.display import usd, usd_cost
from gateway.http.dashboard.charts import bucket_start
from tests.e2e.dashboard.test_dashboard_charts import Scene, scene, when
from tests.support.browser_kit import Problems, light_and_dark, overflow_px, sign_in
from tests.support.factories import ledger
from tests.support.harness import Gateway


def sums(s: Scene, group: str, keep: object = None) -> dict[str, tuple[int, int]]:
    """{group value: (requests, spend)} of the scene's debits that `keep` accepts."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for e in s.entries:
        if keep is not None and not keep(e):  # type: ignore[operator]
            continue
        value = {
            "model": e["model"] or "",
            "week": bucket_start(when(e), "week").isoformat(),
            "kind": "metered" if e["meter"] else "tokens",
            "day": when(e).isoformat(),
        }[group]
        out[value][0] += 0 if e["meter"] else 1
        out[value][1] += -e["amount_micros"]
    return {k: (v[0], v[1]) for k, v in out.items()}


async def page_rows(page: Page) -> list[list[str]]:
    rows = page.locator("#usage-table tbody tr")
    return [
        [c.strip() for c in (await rows.nth(i).inner_text()).split("\t")]
        for i in range(await rows.count())
    ]


async def download(page: Page) -> list[dict[str, str]]:
    async with page.expect_download() as info:
        await page.click("#csv")
    path = await (await info.value).path()
    return list(csv.DictReader(io.StringIO(path.read_text())))


async def apply(page: Page, **fields: str) -> None:
    for name, value in fields.items():
        selector = f"#f-{name}"
        if await page.locator(f"select{selector}").count():
            await page.select_option(selector, value)
        else:
            await page.fill(selector, value)
    await page.click("form.filters button[type=submit]")
    await page.wait_for_load_state()


async def test_explorer_filters_groups_and_exports_what_the_page_shows(
    gw: Gateway, page: Page
) -> None:
    s = await scene(gw)
    problems = Problems(page)
    await sign_in(page, s.t.key)
    await page.goto("/dashboard/usage")
    start = (datetime.now(UTC) - timedelta(days=20)).date().isoformat()

    # The team's usage by model: only the second key's gpt-4o call.
    await apply(page, **{"from": start, "team": s.team_id, "group": "model"})
    want = sums(s, "model", lambda e: e["key_id"] == s.other_key_id)
    assert list(want) == ["gpt-4o"]
    rows = await page_rows(page)
    assert [(r[0], r[1], r[5]) for r in rows] == [("gpt-4o", "1", usd(want["gpt-4o"][1]))]
    exported = await download(page)
    assert [(r["model"], int(r["requests"]), int(r["spend_micros"])) for r in exported] == [
        ("gpt-4o", *want["gpt-4o"])
    ]

    # Every team, by kind of usage: LLM calls and metered GPU seconds apart.
    await apply(page, team="", group="kind")
    want = sums(s, "kind")
    rows = await page_rows(page)
    assert {r[0]: (int(r[1]), r[5]) for r in rows} == {
        "Tokens (LLM calls)": (3, usd(want["tokens"][1])),
        "Metered usage": (0, usd(want["metered"][1])),
    }
    exported = await download(page)
    assert {r["kind"]: (int(r["requests"]), int(r["spend_micros"])) for r in exported} == want

    # Metered usage only, by week: the CSV's rows are the page's rows.
    await apply(page, kind="metered", group="week")
    want = sums(s, "week", lambda e: bool(e["meter"]))
    rows = await page_rows(page)
    exported = await download(page)
    assert [r[0] for r in rows] == [r["week"] for r in exported] == sorted(want)
    assert [r[5] for r in rows] == [usd(int(r["spend_micros"])) for r in exported]
    assert {r["week"]: int(r["spend_micros"]) for r in exported} == {
        w: v[1] for w, v in want.items()
    }
    chart = page.locator("#chart-usage-table tbody tr")
    assert await chart.count() == 21  # a day each from `from` to today

    # The ledger entries of one kind: the seed credit only.
    await apply(page, kind="", **{"ledger-kind": "credit"})
    entries = page.locator("#entries tbody tr")
    assert await entries.count() == 1 and "credit" in await entries.first.inner_text()
    assert "$50.000000" in await entries.first.inner_text()
    assert await overflow_px(page) == 0
    await apply(page, **{"ledger-kind": "", "group": "model", "stack": "model"})
    await light_and_dark(page, "usage-explorer")
    assert problems.found == []


async def test_a_request_page_shows_its_ledger_rows_and_its_price_arithmetic(
    gw: Gateway, page: Page
) -> None:
    s = await scene(gw)
    problems = Problems(page)
    debit = next(e for e in s.entries if e["model"] == "gpt-4o")
    await sign_in(page, s.t.key)
    await page.goto("/dashboard/usage?ledger_kind=debit&model=gpt-4o")
    await page.click(f"#entries a:has-text('{debit['request_id']}')")
    assert page.url.endswith(f"/dashboard/usage/requests/{debit['request_id']}")
    rows = page.locator("#request-entries tbody tr")
    assert await rows.count() == 1
    cells = (await rows.first.inner_text()).split("\t")
    assert cells[0].strip() == str(debit["id"]) and cells[2].strip() == "debit"
    assert cells[-1].strip() == usd_cost(debit["amount_micros"])
    arithmetic = await page.inner_text("#arithmetic")
    assert f"request {debit['request_id']}  model gpt-4o" in arithmetic
    assert f"debited {-debit['amount_micros']:,} micros" in arithmetic
    assert "input_tokens" in arithmetic and "exact cost" in arithmetic
    assert "provider" not in arithmetic  # the operator's cost is not the customer's to read
    assert f"{debit['input_tokens']:,} x" in arithmetic
    metered = next(e for e in s.entries if e["meter"])
    await page.goto(f"/dashboard/usage/requests/{metered['request_id']}")
    assert "GPU seconds" in await page.inner_text("#arithmetic")
    await page.goto(f"/dashboard/usage/requests/{debit['request_id']}")
    assert await overflow_px(page) == 0
    await light_and_dark(page, "request")
    assert problems.found == []
    unknown = await page.goto("/dashboard/usage/requests/req_nobody")
    assert unknown is not None and unknown.status == 404
    assert "No settled request" in await page.inner_text("main")
    assert len(await ledger(gw, s.t.account_id)) == len(s.entries) + 1  # nothing written
