"""The paying user's journey, in Chromium: a new person invited to an account signs in (by
their identity provider, or by an e-mailed link) and accepts the invitation, their key
meets a 402 whose `next` is a whole address (the dashboard's top-up form, which they
follow), they top up on the
provider's hosted page (Stripe Checkout through localstripe, or the local provider) and come
back to the dashboard showing the new balance.

Every URL handed to the person or to Stripe is absolute: the 402's `next`, the payment page
the dashboard sends the browser to, the mailed link, and each URL parameter Stripe received
(held to Stripe's own rules, which localstripe does not check). One gateway per provider.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import openai
import pytest
from playwright.async_api import Page, Response, async_playwright

from tests.e2e.test_signin_people import mail_to
from tests.support.billing_client import books_balance
from tests.support.browser_kit import launch
from tests.support.factories import balance, openai_client, tenant
from tests.support.fakes.oidc_idp import oidc_provider
from tests.support.fakes.smtp_sink import smtp_server
from tests.support.fakes.stripe_stack import stripe_stack, url_rule_breaks
from tests.support.harness import Gateway, free_port, running_gateway

LINK = re.compile(r"http://\S+/dashboard/signin/link/[\w-]+")
TOPUP = 5_000_000


async def _invite(gw: Gateway, account_id: str, email: str) -> None:
    status, member = await gw.admin(
        "POST", f"/admin/v1/accounts/{account_id}/members", {"email": email}
    )
    assert status == 201, member


async def _meets_a_402(gw: Gateway, key: str) -> str:
    """The person's key, out of money: the page the 402's `next` sends them to."""
    async with openai_client(gw, key) as client:
        with pytest.raises(openai.APIStatusError) as caught:
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=50
            )
    assert caught.value.status_code == 402
    body = caught.value.body
    assert isinstance(body, dict) and body["next"]["action"] == "top_up", body
    return str(body["next"]["url"])


@asynccontextmanager
async def _browser(redirects: list[str]) -> AsyncIterator[Page]:
    """A page whose redirects' Location headers are kept: what the browser was handed.

    The dashboard's Content-Security-Policy lets a form lead to its own origin or any
    https: one (`form-action 'self' https:`), which covers Stripe's Checkout; the test's
    Checkout front is plain http on another port, so the Billing page hands it over as a
    link (`#hosted-link`) under the policy, and the test follows that."""

    def kept(response: Response) -> None:
        if 300 <= response.status < 400:
            redirects.append(response.headers.get("location", ""))

    async with async_playwright() as pw:
        browser = await launch(pw)
        page = await browser.new_page()
        page.set_default_timeout(15_000)
        page.on("response", kept)
        try:
            yield page
        finally:
            await browser.close()


async def _top_up_from_the_dashboard(page: Page, url: str) -> None:
    """Follow the 402's link (the dashboard's top-up form) and pay $5."""
    await page.goto(url)
    await page.fill("#topup-amount", "5")
    await page.click("#topup button")


async def _credited(gw: Gateway, account_id: str) -> None:
    for _ in range(150):  # the provider's webhook arrives on its own time
        if await balance(gw, account_id) == TOPUP:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the top-up was never credited")


@pytest.mark.timeout(480)
async def test_sign_in_by_identity_provider_402_then_stripe_checkout(dsn: str) -> None:
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    redirects: list[str] = []
    async with stripe_stack() as stack, oidc_provider(public) as oidc:
        await stack.reset(f"{public}/webhooks/stripe")
        env = stack.env(public) | oidc | {"LISTEN_ADDR": f"127.0.0.1:{port}"}
        async with running_gateway(dsn, None, **env) as gw:
            t = await tenant(gw, credit=0)
            await _invite(gw, t.account_id, "ada@example.com")
            fix = await _meets_a_402(gw, t.key)
            assert fix == f"{public}/dashboard/billing#topup"
            async with _browser(redirects) as page:
                await page.goto(public + "/dashboard/signin")
                await page.click("text=Sign in with Test IdP")
                await page.fill("input[name=login]", "ada@example.com")
                await page.fill("input[name=password]", "anything")
                await page.click("button[type=submit]")
                await page.wait_for_url(public + "/dashboard/signin/choose")
                await page.click("li.invitation button.accept")
                await page.wait_for_url(public + "/dashboard/")
                await _top_up_from_the_dashboard(page, fix)
                redirects.append(str(await page.get_attribute("#hosted-link", "href")))
                await page.click("#hosted-link")
                await page.wait_for_url(re.compile(re.escape(stack.api_base) + r"/pay/cs_test_"))
                await page.click("#pay")
                back = re.escape(public) + r"/dashboard/billing\?checkout=success&session_id=cs_"
                await page.wait_for_url(re.compile(back))
                await _credited(gw, t.account_id)
                await page.reload()
                assert await page.inner_text("#balance") == "$5.00"
                assert await page.is_visible("#checkout-notice")
            await stack.quiet()
            assert await books_balance(gw, t.account_id) == TOPUP
    assert any(r.startswith(stack.api_base + "/pay/cs_test_") for r in redirects), redirects
    assert {p for p, _ in stack.urls_sent} == {"success_url", "cancel_url"}
    assert [b for p, url in stack.urls_sent for b in url_rule_breaks(p, url)] == []


@pytest.mark.timeout(480)
async def test_sign_in_by_emailed_link_402_then_the_local_provider(dsn: str) -> None:
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    redirects: list[str] = []
    with smtp_server() as box:
        env = {
            "LISTEN_ADDR": f"127.0.0.1:{port}",
            "PUBLIC_URL": public,
            "SIGNIN_EMAIL_LINKS": "1",
            "SMTP_URL": box.url,
            "NOTIFY_EMAIL_FROM": "meterway@example.com",
        }
        async with running_gateway(dsn, None, **env) as gw:
            t = await tenant(gw, credit=0)
            email = f"bob-{secrets.token_hex(4)}@example.com"  # the test database is shared
            await _invite(gw, t.account_id, email)
            fix = await _meets_a_402(gw, t.key)
            assert fix == f"{public}/dashboard/billing#topup"
            async with _browser(redirects) as page:
                await page.goto(public + "/dashboard/signin")
                await page.fill("#email", email)
                await page.click("form[action$='/signin/email'] button")
                await page.wait_for_selector("text=a link is on its way")
                (mail,) = await mail_to(box, email)  # sent after the form answered
                text = mail.get_body(("plain",))
                assert text is not None
                (link,) = LINK.findall(text.get_content())  # one organization, one link
                assert link.startswith(public + "/")
                await page.goto(link)
                await page.click("form[action*='/signin/link/'] button")
                await page.wait_for_url(public + "/dashboard/signin/choose")
                await page.click("li.invitation button.accept")
                await page.wait_for_url(public + "/dashboard/")
                await _top_up_from_the_dashboard(page, fix)
                await page.wait_for_url(re.compile(re.escape(public) + "/billing/local/checkout/"))
                await page.click("button[value=pay]")
                assert await page.inner_text("#outcome") == "succeeded"
                back = await page.get_attribute("#back", "href")
                assert back == f"{public}/dashboard/billing?checkout=success"
                await page.click("#back")
                await page.wait_for_url(back)
                assert await page.inner_text("#balance") == "$5.00"
                assert await page.is_visible("#checkout-notice")
            assert await books_balance(gw, t.account_id) == TOPUP
    assert any(r.startswith(public + "/billing/local/checkout/cs_") for r in redirects), redirects
