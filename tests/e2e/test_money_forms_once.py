"""A money form cannot repeat, in Chromium (issue 48, item 4): Back twice to the account page
brought the credit form back filled in with a new idempotency key, and submitting it added
the same grant again. Now the page's single-use token is pinned to its history entry: Back
once or twice, the fields restored, submit again: one credit. A double click: one credit."""

from __future__ import annotations

from playwright.async_api import Page

from tests.support.factories import balance, ledger, tenant
from tests.support.harness import ADMIN_KEY, Gateway

CREDIT_FORM = "form[action$='/confirm/credit']"


async def fill_credit(page: Page, amount: str) -> None:
    """The fields as the person typed them (or as the browser restores them)."""
    await page.fill("#credit-amount", amount)
    await page.fill("#credit-reason", "goodwill")
    await page.fill("#credit-kind", "promotional")
    await page.fill("#credit-expires", "2026-12-31")


async def credits_of(gw: Gateway, account_id: str, amount: int) -> int:
    rows = await ledger(gw, account_id)
    return [r["amount_micros"] for r in rows if r["kind"] == "credit"].count(amount)


async def test_back_once_and_twice_then_resubmit_credits_once(gw: Gateway, page: Page) -> None:
    t = await tenant(gw)
    before = await balance(gw, t.account_id)
    await page.goto("/dashboard/signin")
    await page.fill("#credential", ADMIN_KEY)
    await page.click("button[type=submit]")
    await page.goto(f"/dashboard/operators/accounts/{t.account_id}")
    drawn = await page.input_value(f"{CREDIT_FORM} input[name=form_token]")
    await fill_credit(page, "2.50")
    await page.click(f"{CREDIT_FORM} button")
    await page.click("#confirm")
    await page.wait_for_selector("text=Credit recorded")
    assert await balance(gw, t.account_id) == before + 2_500_000

    await page.go_back()  # once: the confirmation, from its address
    assert "Add $2.50 to" in await page.inner_text("#confirm-summary")
    await page.click("#confirm")
    await page.wait_for_selector("text=Already recorded")
    result = page.locator("#form-result")
    assert (await result.get_attribute("href") or "").endswith("?notice=credited")

    await page.go_back()
    await page.go_back()  # twice: the account page, drawn again by the server
    assert await page.input_value(f"{CREDIT_FORM} input[name=form_token]") == drawn
    await fill_credit(page, "2.50")  # the fields restored
    await page.click(f"{CREDIT_FORM} button")
    await page.click("#confirm")
    await page.wait_for_selector("text=Already recorded")
    await page.click("#form-result")
    await page.wait_for_selector("text=Credit recorded")
    assert await balance(gw, t.account_id) == before + 2_500_000
    assert await credits_of(gw, t.account_id, 2_500_000) == 1

    # A page opened afresh is a new form: a second credit on purpose still works.
    await page.goto(f"/dashboard/operators/accounts/{t.account_id}")
    assert await page.input_value(f"{CREDIT_FORM} input[name=form_token]") != drawn
    await fill_credit(page, "2.50")
    await page.click(f"{CREDIT_FORM} button")
    await page.click("#confirm")
    await page.wait_for_selector("text=Credit recorded")
    assert await credits_of(gw, t.account_id, 2_500_000) == 2


async def test_a_double_click_credits_once(gw: Gateway, page: Page) -> None:
    t = await tenant(gw)
    await page.goto("/dashboard/signin")
    await page.fill("#credential", ADMIN_KEY)
    await page.click("button[type=submit]")
    await page.goto(f"/dashboard/operators/accounts/{t.account_id}")
    await fill_credit(page, "1.75")
    await page.dblclick(f"{CREDIT_FORM} button")
    await page.wait_for_selector("#confirm")
    await page.dblclick("#confirm")
    await page.wait_for_selector("text=recorded")  # 'Credit recorded' or 'Already recorded'
    await gw.settle_all()
    assert await credits_of(gw, t.account_id, 1_750_000) == 1
