"""A reseller's view (issue 48): with a 20 % markup, the customer's own key and pages never
read the markup, the provider's cost or the margin, unless the operator turns it on
(SHOW_PROVIDER_COST=1); the operator's admin API always does."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from billing.audience import OPERATOR_ONLY
from billing.contracts.reseller import PRIVATE
from tests.e2e.test_markups import RESELLER, _call
from tests.support.browser_kit import sign_in
from tests.support.factories import debits, tenant
from tests.support.harness import Gateway, config_dir_with, running_gateway

SCOPES = ["chat", "billing", "account:read", "usage:read", "keys:read"]
# Each read and the private fields it carries when shown.
MARGIN = ("provider_cost_micros", "gross_margin_micros")
READS = {
    "/v1/account": ("markup_bps", "next_markup"),
    "/v1/account/ledger": ("provider_cost_micros",),
    "/v1/account/usage?group_by=model": MARGIN,
    "/v1/account/usage?group_by=model&format=csv": MARGIN,
}


@pytest.fixture(scope="module", params=["0", "1"], ids=["hidden", "shown"])
async def gw(
    request: pytest.FixtureRequest, dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Gateway]:
    config = tmp_path_factory.mktemp(f"reseller{request.param}")
    config_dir_with(config, plans=RESELLER)
    env = {"MW_CONFIG_DIR": str(config), "SHOW_PROVIDER_COST": request.param}
    async with running_gateway(dsn, **env) as gateway:
        yield gateway


async def _read(gw: Gateway, key: str, path: str) -> str:
    async with gw.http.get(gw.url + path, headers={"Authorization": f"Bearer {key}"}) as r:
        assert r.status == 200, (path, await r.text())
        return await r.text()


async def test_a_customer_reads_no_markup_cost_or_margin_unless_shown(
    gw: Gateway, page: Page
) -> None:
    shown = gw.settings.show_provider_cost
    t = await tenant(gw, credit=1_000_000, plan="reseller", scopes=SCOPES)
    assert await _call(gw, t.key) == "540"  # 450 from the provider, +20 %
    [debit] = await debits(gw, t.account_id)
    rid = debit["request_id"]
    reads = READS | {f"/v1/account/requests/{rid}": ("provider_cost_micros",)}
    for path, fields in reads.items():
        text = await _read(gw, t.key, path)
        for field in fields:
            assert (field in text) == shown, (path, field)
    cost = json.loads(await _read(gw, t.key, f"/v1/account/requests/{rid}"))
    said = "\n".join(cost["arithmetic"])
    assert ("provider cost" in said) == shown and ("450" in said) == shown, said
    assert "540" in said  # what was charged is always the customer's to read
    await sign_in(page, t.key)
    await page.goto(f"/dashboard/usage/requests/{rid}")
    text = await page.inner_text("main")
    assert ("provider cost" in text) == shown and ("450 micros" in text) == shown, text
    assert "markup" not in text and "margin" not in text


async def test_the_operator_always_reads_them(gw: Gateway) -> None:
    t = await tenant(gw, credit=1_000_000, plan="reseller")
    await _call(gw, t.key)
    await gw.settle_all()
    status, body = await gw.admin(
        "GET", f"/admin/v1/accounts/{t.account_id}/usage/report?group_by=model"
    )
    assert status == 200 and body["totals"]["gross_margin_micros"] == 90, body
    status, ledger = await gw.admin("GET", f"/admin/v1/accounts/{t.account_id}/ledger")
    rows: list[dict[str, Any]] = ledger["data"]
    assert status == 200 and any(r.get("provider_cost_micros") == 450 for r in rows)
    status, account = await gw.admin("GET", f"/admin/v1/accounts/{t.account_id}")
    assert status == 200 and "markup_bps" in account


def test_private_fields_are_the_issue_s_three_and_a_scheduled_markup() -> None:
    issue_48 = {"markup_bps", "provider_cost_micros", "gross_margin_micros", "next_markup"}
    assert PRIVATE is OPERATOR_ONLY  # one declaration (billing/audience.py)
    assert issue_48 | {"book", "x_ProviderCost"} == OPERATOR_ONLY  # a book, FOCUS's column
    assert Path(__file__).exists()
