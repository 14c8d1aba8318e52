"""The dashboard's Billing page in headless Chromium with the local payments provider
(offline): top up and watch the balance change; hit a quota, follow the page's upgrade link
to the plan that lifts it, pay for it, and get through."""

from __future__ import annotations

from datetime import timedelta

import openai
import pytest
from playwright.async_api import Page

from billing.money.display import usd
from gateway.payments.local_objects import DECLINED
from tests.e2e.dashboard.test_dashboard import SCOPES, chat
from tests.e2e.test_grants_api import credit, gateway_now, grants_of
from tests.support.browser_kit import low_contrast, screenshots, sign_in, unlabelled
from tests.support.factories import balance, tenant
from tests.support.harness import Gateway


async def pay(page: Page) -> None:
    """On the local provider's checkout page: pay with the card that succeeds."""
    assert "/billing/local/checkout/" in page.url, page.url
    await page.click("button[value=pay]")
    assert await page.inner_text("#outcome") in ("succeeded", "complete", "active"), page.url


async def buy_plan(page: Page, plan: str) -> None:
    """On the Billing page, switch to `plan` and pay for it on the provider's checkout."""
    await page.goto("/dashboard/billing")
    card = page.locator(f".plan[data-plan={plan}]")
    await card.locator("button", has_text=f"Switch to {plan}").click()
    await pay(page)


async def submit_top_up(page: Page, amount: str) -> None:
    """On the Billing page, type an amount in the top-up form and continue to payment."""
    await page.goto("/dashboard/billing")
    await page.fill("#topup-amount", amount)
    await page.click("#topup button[type=submit]")


async def test_top_up_through_the_local_provider_changes_the_balance(
    gw: Gateway, page: Page
) -> None:
    t = await tenant(gw, credit=0, scopes=SCOPES)
    await sign_in(page, t.key)
    await page.click("#next-step")  # an empty prepaid balance: the next step is a top-up
    assert page.url.endswith("/dashboard/billing#topup")
    assert await unlabelled(page) == [] and await low_contrast(page) == []
    await screenshots(page, "billing")
    await page.fill("#topup-amount", "5.25")
    await page.click("#topup button[type=submit]")
    await pay(page)
    assert await balance(gw, t.account_id) == 5_250_000
    await page.goto("/dashboard/billing")
    assert await page.inner_text("#balance") == usd(5_250_000)
    history = await page.inner_text("#payments tbody")
    assert "$5.25" in history and "succeeded" in history
    await page.goto("/dashboard/")
    assert await page.inner_text("#balance") == "$5.25"
    assert await page.locator("#next-step").count() in (0, 1)  # set up billing may remain


async def test_a_full_quota_links_to_the_plan_that_lifts_it(gw: Gateway, page: Page) -> None:
    t = await tenant(gw, plan="free", scopes=SCOPES)
    for _ in range(20):  # free: 20 requests a minute
        await chat(gw, t.key)
    with pytest.raises(openai.RateLimitError):
        await chat(gw, t.key)
    await sign_in(page, t.key)
    link = page.locator("#upgrade-minute-requests")
    assert "starter" in await link.inner_text()
    await screenshots(page, "overview-quota-full")
    await link.click()
    assert "upgrade=starter" in page.url
    card = page.locator(".plan[data-plan=starter]")
    assert "suggested" in await card.inner_text() and "$" in await card.inner_text()
    await card.locator("button", has_text="Switch to starter").click()
    assert await page.inner_text("#price") == "$20.00"  # the checkout says what it costs
    await pay(page)  # no card on file yet: the plan is bought on the provider's checkout
    await page.goto("/dashboard/")
    assert await page.inner_text("#plan") == "starter"
    await chat(gw, t.key)  # 120 a minute now: the 21st request goes through


async def test_back_from_a_plan_payment_the_banner_speaks_of_the_plan(
    gw: Gateway, page: Page
) -> None:
    """After paying for a plan the banner said the balance would show the payment."""
    t = await tenant(gw, plan="free", credit=1_000_000, scopes=SCOPES)
    await sign_in(page, t.key)
    await buy_plan(page, "starter")
    await page.click("#back")
    notice = await page.inner_text("#checkout-notice")
    assert notice.startswith("Payment done for the starter plan ($20.00 a month)"), notice
    assert "balance" not in notice
    await submit_top_up(page, "3.00")  # a top-up's banner still speaks of the balance
    await pay(page)
    await page.click("#back")
    assert "the balance below shows it" in await page.inner_text("#checkout-notice")


async def test_a_plan_arranged_with_sales_is_not_offered_for_sale(gw: Gateway, page: Page) -> None:
    t = await tenant(gw, credit=1_000_000, scopes=SCOPES)
    await sign_in(page, t.key)
    await page.goto("/dashboard/billing")
    card = page.locator(".plan[data-plan=enterprise]")
    text = await card.inner_text()
    assert "Contact sales" in text and "$0.00" not in text, text
    assert await card.locator("button").count() == 0
    starter = page.locator(".plan[data-plan=starter]")
    assert await starter.locator("button", has_text="Switch to starter").count() == 1


async def test_customers_see_their_credit_and_are_warned_before_it_expires(
    gw: Gateway, page: Page
) -> None:
    """The $1 trial and its expiry date were in the API only: the balance dropped on the
    day without warning. Billing lists each grant; Billing and Overview warn within 7 days."""
    t = await tenant(gw, credit=0, scopes=SCOPES)
    now = await gateway_now(gw)
    soon, later = now + timedelta(days=3), now + timedelta(days=30)
    await credit(gw, t.account_id, 1_000_000, "trial", kind="trial", expires_at=soon.isoformat())
    await credit(gw, t.account_id, 2_000_000, "promo", kind="promotional",
                 expires_at=later.isoformat(), priority=20)  # fmt: skip
    await grants_of(gw, t.account_id)
    await sign_in(page, t.key)
    await page.goto("/dashboard/billing")
    rows = await page.locator("#grants tbody tr").all_inner_texts()
    assert len(rows) == 2 and "trial" in rows[0] and "$1.00" in rows[0], rows
    assert soon.strftime("%Y-%m-%d") in rows[0] and rows[1].split("\t")[-1].strip() == "20"
    [warning] = await page.locator("[data-expiring]").all_inner_texts()
    assert "$1.00 of trial credit expires" in warning and soon.strftime("%Y-%m-%d") in warning
    assert await low_contrast(page) == []
    await page.goto("/dashboard/")
    [warning] = await page.locator("[data-expiring]").all_inner_texts()
    assert "$1.00 of trial credit expires" in warning
    assert await low_contrast(page) == []


async def test_a_declined_card_is_reported_as_declined_with_its_amount(
    gw: Gateway, page: Page
) -> None:
    """A declined card came back as "Checkout cancelled: nothing was charged", as if the
    person had changed their mind."""
    t = await tenant(gw, credit=0, scopes=SCOPES)
    await sign_in(page, t.key)
    await submit_top_up(page, "12.50")
    await page.select_option("select[name=card]", DECLINED)
    await page.click("button[value=pay]")
    await page.click("#back")
    notice = await page.inner_text("#checkout-notice")
    assert "declined" in notice and "$12.50 was not charged" in notice, notice
    assert "cancelled" not in notice
    assert await balance(gw, t.account_id) == 0
