"""A subscriber sees their plan's subscription, renewal date, card and invoices, and cancels
it, in the billing API, the CLI and the dashboard (issue 38, item 5): the local provider."""

from __future__ import annotations

import asyncio
from pathlib import Path

from billing.dates import human
from gateway.cli.main import main as cli
from tests.support.billing_client import Biller, biller
from tests.support.dashboard_client import page, sign_in
from tests.support.harness import Gateway

SCOPES = ["chat", "account:read", "billing", "billing:setup"]


async def subscriber(gw: Gateway) -> Biller:
    b = await biller(gw, credit=5_000_000, scopes=SCOPES)
    await b.save_card()
    changed = await b.ok("POST", "/subscription", {"plan": "starter"})
    assert changed["status"] == "changed", changed
    return b


async def resume(b: Biller) -> None:
    """Choosing the plan again undoes a cancel (and leaves no downgrade due in the shared
    database for another test's billing clock)."""
    assert (await b.ok("POST", "/subscription", {"plan": "starter"}))["status"] == "unchanged"
    sub = (await b.state())["subscription"]
    assert sub["cancels_at"] is None and sub["renews_at"] is not None


async def test_the_subscription_card_and_invoices_are_shown(gw: Gateway) -> None:
    b = await subscriber(gw)
    state = await b.state()
    sub = state["subscription"]
    assert (sub["plan"], sub["status"], sub["cancels_at"]) == ("starter", "active", None)
    assert sub["renews_at"] == sub["current_period_end"] is not None
    assert state["card"] == {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034}
    invoices = (await b.ok("GET", "/invoices"))["data"]
    assert [(i["amount_micros"], i["status"]) for i in invoices] == [(20_000_000, "paid")]


async def test_cancel_keeps_the_plan_until_the_period_ends(gw: Gateway) -> None:
    b = await subscriber(gw)
    cancelled = await b.ok("POST", "/subscription/cancel")
    assert (cancelled["status"], cancelled["plan"]) == ("scheduled", "free")
    state = await b.state()
    assert state["plan"] == "starter"  # paid for until the period ends
    sub = state["subscription"]
    assert sub["cancels_at"] == sub["current_period_end"] and sub["renews_at"] is None
    status, again = await b.call("POST", "/subscription/cancel")
    assert status == 200 and again["status"] == "scheduled"
    await resume(b)
    nothing = await biller(gw, credit=1_000_000, scopes=SCOPES)
    status, refused = await nothing.call("POST", "/subscription/cancel")
    assert status == 400 and "no subscription" in refused["error"]["message"]


async def test_the_cli_and_the_dashboard_show_the_same(gw: Gateway, tmp_path: Path) -> None:
    b = await subscriber(gw)
    sub = (await b.state())["subscription"]
    token = tmp_path / "token"
    token.write_text(b.t.key)
    out = tmp_path / "status.txt"
    common = ["--api-url", gw.url, "--token-file", str(token), "--output", str(out)]
    assert await asyncio.to_thread(cli, ["billing", "status", *common]) == 0
    text = out.read_text()
    assert f"plan      starter (prepaid), renews {human(sub['renews_at'])} (in " in text
    assert "card      visa •••• 4242 (expires 12/2034)" in text
    assert await asyncio.to_thread(cli, ["billing", "invoices", *common]) == 0
    assert "$20.00  paid" in out.read_text()
    http, _, _ = await sign_in(gw, b.t.key)
    async with http:
        _, html = await page(http, gw, "/dashboard/billing")
        assert "visa •••• 4242" in html and 'id="invoices"' in html and "$20.00" in html
        assert 'action="/dashboard/billing/cancel"' in html
    assert await asyncio.to_thread(cli, ["billing", "cancel", *common]) == 0
    assert f"ends {human(sub['current_period_end'])} (in " in out.read_text()
    await resume(b)
