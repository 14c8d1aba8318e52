"""A page asked for while signed out is where the sign-in lands: "Back to billing" from the
local provider's checkout, in a browser whose session is gone, goes through the sign-in
page and back to the billing page. Only a dashboard page is kept: a cookie naming another
origin, or the sign-in page itself, lands on Overview."""

from __future__ import annotations

import aiohttp
from playwright.async_api import Page

from gateway.http.dashboard.people.after_signin import NEXT_COOKIE
from tests.e2e.dashboard.test_dashboard import SCOPES
from tests.e2e.dashboard.test_dashboard_billing import pay, submit_top_up
from tests.support.browser_kit import sign_in
from tests.support.factories import tenant
from tests.support.harness import Gateway


async def test_back_to_billing_while_signed_out_lands_on_billing(gw: Gateway, page: Page) -> None:
    t = await tenant(gw, credit=0, scopes=SCOPES)
    await sign_in(page, t.key)
    await submit_top_up(page, "2.00")
    await pay(page)
    await page.context.clear_cookies()  # the session is gone (expired, another browser)
    await page.click("#back")
    assert "/dashboard/signin" in page.url
    await page.fill("#credential", t.key)
    await page.click("button[type=submit]")
    await page.wait_for_load_state()
    assert "/dashboard/billing" in page.url and "checkout=success" in page.url, page.url
    assert await page.locator("#checkout-notice").count() == 1


async def _landing(gw: Gateway, key: str, kept: str) -> str:
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.get(gw.url + "/dashboard/signin") as r:
            page = await r.text()
        csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        jar.update_cookies({NEXT_COOKIE: kept})
        data = {"csrf": csrf, "credential": key}
        async with http.post(gw.url + "/dashboard/signin", data=data, allow_redirects=False) as r:
            assert r.status == 303
            return r.headers["Location"]


async def test_only_a_dashboard_page_is_kept(gw: Gateway) -> None:
    t = await tenant(gw, credit=0, scopes=SCOPES)
    assert await _landing(gw, t.key, "/dashboard/usage?x=1") == "/dashboard/usage?x=1"
    for smuggled in ("https://evil.example/", "//evil.example/dashboard/", "/dashboard/signin"):
        assert await _landing(gw, t.key, smuggled) == "/dashboard/", smuggled
