"""One meaning for an expiry date in the CLI, the API and the dashboard (issue 48:
`admin credit --expires 2026-12-31` ended at 00:00 that day, the dashboard's form at
23:59:59): the end of that day in QUOTA_TIMEZONE, shown with the zone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page

from tests.e2e.cli.test_cli_billing import login, meterway
from tests.support.browser_kit import sign_in
from tests.support.factories import tenant
from tests.support.harness import ADMIN_KEY, Gateway, running_gateway

ZONE = "Europe/Paris"  # UTC+1 on the last day of the year
END = "2026-12-31T22:59:59+00:00"  # 23:59:59 on 2026-12-31 in Paris


@pytest.fixture(scope="module")
async def gw(dsn: str) -> AsyncIterator[Gateway]:
    async with running_gateway(dsn, QUOTA_TIMEZONE=ZONE) as gateway:
        yield gateway


async def _grant(gw: Gateway, account_id: str, kind: str) -> dict[str, object]:
    status, body = await gw.admin("GET", f"/admin/v1/accounts/{account_id}/grants")
    assert status == 200, body
    return next(g for g in body["data"] if g["kind"] == kind)


async def test_the_cli_and_the_api_end_a_date_at_the_end_of_that_day(
    gw: Gateway, tmp_path: Path
) -> None:
    t = await tenant(gw)
    login(tmp_path, ADMIN_KEY, "admin-key")
    run = await meterway(
        gw, tmp_path, "admin", "credit", t.account_id, "--amount", "2.50",
        "--kind", "promotional", "--expires", "2026-12-31",
    )  # fmt: skip
    assert run.code == 0, run
    assert (await _grant(gw, t.account_id, "promotional"))["expires_at"] == END
    credit = {
        "amount_micros": 1_000_000,
        "idempotency_key": "api",
        "grant": {"kind": "trial", "expires_at": "2026-12-31"},
    }
    status, body = await gw.admin("POST", f"/admin/v1/accounts/{t.account_id}/credits", credit)
    assert status in (200, 201), body
    assert (await _grant(gw, t.account_id, "trial"))["expires_at"] == END
    key = {"account_id": t.account_id, "name": "dated", "expires_at": "2026-12-31"}
    status, made = await gw.admin("POST", "/admin/v1/keys", key)
    assert status == 201 and made["expires_at"] == END, made


async def test_the_dashboard_form_means_the_same_and_names_the_zone(
    gw: Gateway, page: Page
) -> None:
    t = await tenant(gw)
    await sign_in(page, ADMIN_KEY)
    await page.goto(f"/dashboard/operators/accounts/{t.account_id}")
    assert ZONE in await page.inner_text("label[for=credit-expires]")
    await page.fill("#credit-amount", "$2")
    await page.fill("#credit-kind", "promotional")
    await page.fill("#credit-expires", "2026-12-31")
    await page.click("form[action$='/confirm/credit'] button")
    assert f"expiring 2026-12-31 23:59 {ZONE}" in await page.inner_text("#confirm-summary")
    await page.click("#confirm")
    await page.wait_for_selector("text=Credit recorded")
    assert (await _grant(gw, t.account_id, "promotional"))["expires_at"] == END
