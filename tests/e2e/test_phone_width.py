"""At phone width (375 px) the dashboard's wide tables fit: on the Billing (invoices,
payments), Usage (its ledger rows) and Keys pages, with rows in every table, no table cell
lies beyond the viewport's right edge; secondary columns are dropped and long values wrap."""

from __future__ import annotations

from playwright.async_api import Page, ViewportSize

from tests.e2e.dashboard.test_dashboard import SCOPES, chat
from tests.e2e.dashboard.test_dashboard_billing import pay, submit_top_up
from tests.support.browser_kit import sign_in
from tests.support.factories import tenant
from tests.support.harness import Gateway

PHONE: ViewportSize = {"width": 375, "height": 812}
# Every visible table cell whose right edge is past the viewport's, with its table's id.
BEYOND = """() => [...document.querySelectorAll('td, th')]
  .filter(c => c.getClientRects().length && c.getBoundingClientRect().right > innerWidth + 0.5)
  .map(c => `${c.closest('table').id || '?'}: ${c.textContent.trim().slice(0, 30)}`
            + ` (right ${Math.round(c.getBoundingClientRect().right)})`)"""
PAGES = ("/dashboard/billing", "/dashboard/usage", "/dashboard/keys", "/dashboard/")


async def _fill(gw: Gateway, page: Page, key: str) -> None:
    """A key more, a few requests (usage and ledger rows), a top-up and a plan bought on
    checkout (a payment and an invoice)."""
    for _ in range(3):
        await chat(gw, key)
    await page.goto("/dashboard/keys")
    await page.fill("#key-name", "a-rather-long-key-name-for-a-phone-screen")
    await page.click("#create-key button[type=submit]")
    await submit_top_up(page, "5.00")
    await pay(page)
    await page.goto("/dashboard/billing")
    card = page.locator(".plan[data-plan=starter]")
    await card.locator("button", has_text="Switch to starter").click()
    await pay(page)


async def test_wide_tables_fit_a_phone(gw: Gateway, page: Page) -> None:
    t = await tenant(gw, credit=10_000_000, scopes=SCOPES, plan="free")
    await sign_in(page, t.key)
    await _fill(gw, page, t.key)
    await page.set_viewport_size(PHONE)
    beyond: dict[str, list[str]] = {}
    for path in PAGES:
        await page.goto(path)
        if path != "/dashboard/keys":  # keys are cards; their limits tables are folded
            assert await page.locator("tbody tr").count() > 0, path
        if found := await page.evaluate(BEYOND):
            beyond[path] = found
    assert beyond == {}, "\n".join(f"{p}: {c}" for p, cells in beyond.items() for c in cells)
    await page.goto("/dashboard/billing")
    assert await page.locator("#invoices tbody td").count() >= 4  # an invoice row is there
