"""Dollars for people in Chromium: every amount typed into the dashboard is dollars ("$5",
"0.50"), refusals speak dollars and keep what was typed, and a spend limit is typed and
shown in dollars while the API keeps micros."""

from __future__ import annotations

from playwright.async_api import Page

from tests.e2e.dashboard.test_dashboard import SCOPES
from tests.e2e.dashboard.test_dashboard_billing import pay
from tests.support.browser_kit import sign_in
from tests.support.factories import balance, tenant
from tests.support.harness import Gateway


async def test_a_top_up_under_the_minimum_is_refused_in_dollars(gw: Gateway, page: Page) -> None:
    """Issue 48: "'amount_micros' must be between 1000000 and 1000000000", and the typed
    $0.50 replaced by 10.00."""
    t = await tenant(gw, credit=0, scopes=SCOPES)
    await sign_in(page, t.key)
    await page.goto("/dashboard/billing")
    await page.fill("#topup-amount", "$0.50")
    await page.click("#topup button[type=submit]")
    error = await page.inner_text("p.error[role=alert]")
    assert "A top-up must be between $1.00 and $" in error, error
    assert await page.input_value("#topup-amount") == "$0.50"
    await page.fill("#topup-amount", "$5")
    await page.click("#topup button[type=submit]")
    await pay(page)
    assert await balance(gw, t.account_id) == 5_000_000


async def test_a_key_spend_limit_is_typed_and_shown_in_dollars(gw: Gateway, page: Page) -> None:
    t = await tenant(gw, scopes=SCOPES)
    await sign_in(page, t.key)
    await page.goto("/dashboard/keys")
    await page.fill("#key-name", "capped")
    await page.select_option("#new-window-0", "day")
    await page.select_option("#new-metric-0", "spend")
    await page.fill("#new-limit-0", "$2.50")
    await page.click("#create-key button[type=submit]")
    assert (await page.input_value("#secret")).startswith("mw-")
    status, keys = await gw.admin("GET", f"/admin/v1/accounts/{t.account_id}/keys")
    assert status == 200, keys
    made = next(k for k in keys["data"] if k["name"] == "capped")
    assert made["quotas"] == [{"window": "day", "metric": "spend_micros", "limit": 2_500_000}]
    await page.goto("/dashboard/keys")
    card = page.locator("li.key", has_text="capped")
    assert "$2.50 spend per day" in await card.inner_text()
    assert await card.locator("input[name=limit_0]").input_value() == "2.50"
    assert "micros" not in await page.inner_text("main")
