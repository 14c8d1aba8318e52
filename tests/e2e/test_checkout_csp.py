"""A payment page the dashboard's Content-Security-Policy would stop a form leading to (plain
http on another origin: here PUBLIC_URL names localhost while the browser is on 127.0.0.1)
is not a silent blank: the Billing page says why and offers it as a link, which the policy
does not govern, and the payment goes through. An https page is still a redirect."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page

from tests.e2e.dashboard.test_dashboard import SCOPES
from tests.e2e.dashboard.test_dashboard_billing import pay, submit_top_up
from tests.support.browser_kit import sign_in
from tests.support.factories import balance, tenant
from tests.support.harness import Gateway, free_port, running_gateway


@pytest.fixture
async def gw(dsn: str) -> AsyncIterator[Gateway]:
    port = free_port()
    env = {"LISTEN_ADDR": f"127.0.0.1:{port}", "PUBLIC_URL": f"http://localhost:{port}"}
    async with running_gateway(dsn, None, **env) as gateway:
        yield gateway


async def test_a_checkout_the_policy_blocks_is_offered_as_a_link(gw: Gateway, page: Page) -> None:
    t = await tenant(gw, credit=0, scopes=SCOPES)
    await sign_in(page, t.key)
    await submit_top_up(page, "4.00")
    notice = await page.inner_text("#hosted-notice")
    assert "security policy" in notice and "http://localhost:" in notice
    assert page.url.startswith(gw.url + "/dashboard/billing")
    await page.click("#hosted-link")
    await pay(page)
    assert await balance(gw, t.account_id) == 4_000_000
