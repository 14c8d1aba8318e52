"""The dashboard in headless Chromium: sign in, a balance and a chart that match the ledger,
keys created, limited, rotated and revoked, usage filtered and downloaded, operators."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import aiohttp
import openai
import pytest
from playwright.async_api import Page

from billing.money.display import usd, usd_exact
from gateway.stores.redis.keys import shard_of
from tests.support.billing_client import Biller
from tests.support.browser_kit import overflow_px, screenshots, sign_in
from tests.support.factories import balance, ledger, openai_client, tenant
from tests.support.harness import ADMIN_KEY, Gateway

SCOPES = ["chat", "billing", "account:read", "usage:read", "keys:write"]


async def chat(gw: Gateway, key: str, model: str = "gpt-4o-mini") -> None:
    async with openai_client(gw, key) as client:
        await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hello there"}], max_tokens=40
        )


def daily_spend(entries: list[dict[str, Any]]) -> dict[str, int]:
    days: dict[str, int] = defaultdict(int)
    for e in entries:
        if e["kind"] == "debit":
            day = datetime.fromisoformat(e["occurred_at"]).astimezone(UTC).date().isoformat()
            days[day] -= e["amount_micros"]
    return dict(days)


async def test_sign_in_shows_the_balance_and_a_chart_that_match_the_ledger(
    gw: Gateway, page: Page
) -> None:
    t = await tenant(gw, scopes=SCOPES)
    await chat(gw, t.key)
    await chat(gw, t.key, model="gpt-4o")
    await gw.settle_all()
    await sign_in(page, t.key)
    assert page.url.endswith("/dashboard/")
    assert await page.inner_text("#balance") == usd(await balance(gw, t.account_id))
    series = json.loads(await page.inner_text("script[data-chart=chart-daily]"))
    assert len(series["days"]) == 30 and series["metric"] == "spend_micros"
    charted = {d: v for d, v in zip(series["days"], series["values"], strict=True) if v}
    expected = daily_spend(await ledger(gw, t.account_id))
    assert charted == expected and sum(expected.values()) > 0
    await page.wait_for_selector("#chart-daily canvas")  # uPlot drew it
    assert await page.get_attribute("#chart-daily", "data-drawn") == "30"
    assert await page.locator("#by-model tbody tr").count() == 2
    cookies = {c["name"]: c for c in await page.context.cookies()}
    session = cookies["mw_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert t.key not in json.dumps(await page.context.storage_state())
    assert await overflow_px(page) == 0
    await screenshots(page, "overview")


async def test_a_wrong_or_unscoped_credential_is_refused(gw: Gateway, page: Page) -> None:
    await sign_in(page, "mw-not-a-key")
    assert "/signin" in page.url and "Incorrect API key" in await page.inner_text(".error")
    proxy_only = await tenant(gw, scopes=["chat"])
    await sign_in(page, proxy_only.key)
    assert "'billing' scope" in await page.inner_text(".error")
    await screenshots(page, "signin")
    await page.goto("/dashboard/keys")
    assert page.url.endswith("/dashboard/signin")


async def test_create_limit_rotate_and_revoke_a_key(gw: Gateway, page: Page) -> None:
    t = await tenant(gw, scopes=SCOPES)
    await sign_in(page, t.key)
    await page.goto("/dashboard/keys")
    await page.fill("#key-name", "ci runner")
    await page.fill("#new-limit-0", "5")
    await page.select_option("#new-window-0", "day")
    await page.select_option("#new-metric-0", "requests")
    await page.click("#create-key button[type=submit]")
    secret = await page.input_value("#secret")
    assert secret.startswith("mw-")
    await page.click("button[data-copy]")
    await page.wait_for_selector("#copy-status:has-text('Copied')")
    await screenshots(page, "key-created")
    await chat(gw, secret)  # the new key works

    await page.goto("/dashboard/keys")
    card = page.locator("li.key", has_text="ci runner")
    await card.locator("summary", has_text="Limits").click()
    await card.locator("input[name=limit_0]").fill("700")  # the account allows 600/minute
    await card.locator("select[name=window_0]").select_option("minute")
    await card.locator("button", has_text="Save limits").click()
    assert "at most 600 requests per minute" in await page.inner_text(".error")
    await screenshots(page, "keys")

    card = page.locator("li.key", has_text="ci runner")
    await card.locator("summary", has_text="Rotate").click()
    await card.locator("input[name=grace]").fill("0")
    await card.locator("button", has_text="Rotate key").click()
    rotated = await page.input_value("#secret")
    assert rotated.startswith("mw-") and rotated != secret
    with pytest.raises(openai.AuthenticationError):
        await chat(gw, secret)  # no grace: the old secret stopped at once
    await chat(gw, rotated)
    secret = rotated

    await page.goto("/dashboard/keys")
    card = page.locator("li.key", has_text=rotated[:9])
    await card.locator("summary", has_text="Revoke").click()
    await card.locator("button.danger").click()
    await page.wait_for_selector("text=The key was revoked")
    assert await page.locator("li.key", has_text=rotated[:9]).count() == 0
    with pytest.raises(openai.AuthenticationError):
        await chat(gw, secret)


async def test_forms_refuse_a_missing_token_or_a_foreign_origin(gw: Gateway, page: Page) -> None:
    t = await tenant(gw, scopes=SCOPES)
    await sign_in(page, t.key)
    cookie = next(c for c in await page.context.cookies() if c["name"] == "mw_session")
    jar = {"mw_session": cookie["value"]}
    csrf = await page.input_value("form.signout input[name=csrf]")
    async with aiohttp.ClientSession(cookies=jar) as http:
        async with http.post(gw.url + "/dashboard/keys", data={"name": "x"}) as r:
            assert r.status == 403
        async with http.post(
            gw.url + "/dashboard/keys",
            data={"name": "x", "csrf": csrf, "scopes": "chat"},
            headers={"Origin": "https://evil.example"},
        ) as r:
            assert r.status == 403
        async with http.post(
            gw.url + "/dashboard/keys", data={"name": "ok", "csrf": csrf, "scopes": "chat"}
        ) as r:
            assert r.status == 200 and "shown once" in await r.text()


async def test_usage_filters_and_csv_download(gw: Gateway, page: Page) -> None:
    t = await tenant(gw, scopes=SCOPES)
    await chat(gw, t.key)
    await chat(gw, t.key, model="gpt-4o")
    await gw.settle_all()
    await sign_in(page, t.key)
    await page.goto("/dashboard/usage")
    await page.select_option("#f-group", "model")
    await page.fill("#f-model", "gpt-4o")
    await page.click("form.filters button[type=submit]")
    rows = page.locator("#usage-table tbody tr")
    assert await rows.count() == 1 and "gpt-4o" in await rows.first.inner_text()
    spend = -sum(
        e["amount_micros"] for e in await ledger(gw, t.account_id) if e.get("model") == "gpt-4o"
    )
    assert await page.inner_text("#usage-total") == usd(spend)
    async with page.expect_download() as info:
        await page.click("#csv")
    path = await (await info.value).path()
    table = list(csv.DictReader(io.StringIO(path.read_text())))
    assert [(r["model"], int(r["spend_micros"])) for r in table] == [("gpt-4o", spend)]
    await page.goto("/dashboard/usage")
    await screenshots(page, "usage")


async def test_usage_shows_images_seconds_and_characters(gw: Gateway, page: Page) -> None:
    t = await tenant(gw, scopes=[*SCOPES, "images", "audio"])
    async with openai_client(gw, t.key) as client:
        await client.images.generate(model="dall-e-2", prompt="a kite", n=2, size="256x256")
        await client.audio.speech.create(model="tts-1", voice="alloy", input="Hello there")
    await gw.settle_all()
    await sign_in(page, t.key)
    await page.goto("/dashboard/usage")
    assert await page.inner_text("#usage-units") == "2 images · 11 characters"


async def test_operators_find_an_account_and_credit_it_once(gw: Gateway, page: Page) -> None:
    t = await tenant(gw, scopes=SCOPES)
    _, account = await gw.admin("GET", f"/admin/v1/accounts/{t.account_id}")
    await sign_in(page, ADMIN_KEY)
    assert page.url.endswith("/dashboard/operators")
    assert "ready" in await page.inner_text("#health")
    await page.fill("#q", account["name"])
    await page.click("form[role=search] button")
    await page.click(f"a[href='/dashboard/operators/accounts/{t.account_id}']")
    await screenshots(page, "operators-account")
    before = await balance(gw, t.account_id)
    await page.fill("#credit-amount", "2.50")
    await page.fill("#credit-reason", "goodwill")
    form_html = await page.content()
    await page.click("form[action$='/confirm/credit'] button")
    assert "Add $2.50 to" in await page.inner_text("#confirm-summary")
    assert await balance(gw, t.account_id) == before  # nothing moves before Confirm
    await screenshots(page, "operators-confirm")
    await page.click("#confirm")
    await page.wait_for_selector("text=Credit recorded")
    assert await balance(gw, t.account_id) == before + 2_500_000
    assert await page.inner_text("#balance") == usd(before + 2_500_000)
    # The same form submitted and confirmed again (a reload of an old copy) credits once.
    await page.set_content(form_html)  # the DOM's markup: the typed values are not in it
    await page.fill("#credit-amount", "2.50")
    await page.click("form[action$='/confirm/credit'] button")
    await page.click("#confirm")
    await page.wait_for_selector("text=Already recorded")
    assert await balance(gw, t.account_id) == before + 2_500_000
    await page.goto("/dashboard/operators")
    await screenshots(page, "operators")
    await page.goto("/dashboard/keys")  # an operator-only session has no account pages
    assert "Sign in with an account" in await page.inner_text(".error")


async def test_a_full_window_names_the_plan_that_lifts_it(gw: Gateway, page: Page) -> None:
    t = await tenant(gw, plan="free", scopes=SCOPES)
    for _ in range(20):  # the free plan allows 20 requests a minute
        await chat(gw, t.key)
    with pytest.raises(openai.RateLimitError) as refused:
        await chat(gw, t.key)
    upgrade = refused.value.body["upgrade"]  # type: ignore[index]
    await sign_in(page, t.key)
    link = page.locator("#upgrade-minute-requests")
    assert f"upgrade to {upgrade['plan']}" in await link.inner_text()
    assert f"upgrade={upgrade['plan']}" in (await link.get_attribute("href") or "")
    await screenshots(page, "overview-quota-full")


async def test_back_and_double_click_never_repeat_money(gw: Gateway, page: Page) -> None:
    t = await tenant(gw, scopes=SCOPES)
    before = await balance(gw, t.account_id)
    await sign_in(page, ADMIN_KEY)
    await page.goto(f"/dashboard/operators/accounts/{t.account_id}")
    await page.fill("#credit-amount", "3")
    await page.click("form[action$='/confirm/credit'] button")
    assert "Add $3.00 to" in await page.inner_text("#confirm-summary")
    await page.click("#confirm")
    await page.wait_for_selector("text=Credit recorded")
    await page.go_back()  # the confirmation again, from its address: the same key
    assert "Add $3.00 to" in await page.inner_text("#confirm-summary")
    await page.click("#confirm")
    await page.wait_for_selector("text=Already recorded")
    await page.go_back()
    await page.dblclick("#confirm")
    await page.wait_for_selector("text=Already recorded")
    assert await balance(gw, t.account_id) == before + 3_000_000
    credits = [r for r in await ledger(gw, t.account_id) if r["kind"] == "credit"]
    assert [r["amount_micros"] for r in credits].count(3_000_000) == 1
    # An adjustment shows its dollars before it moves, and moves once.
    await page.goto(f"/dashboard/operators/accounts/{t.account_id}")
    await page.fill("#adjust-amount", "1.25")
    await page.fill("#adjust-reason", "duplicate charge")
    await page.click("form[action$='/confirm/adjustment'] button")
    summary = await page.inner_text("#confirm-summary")
    assert "Take $1.25 from" in summary and usd_exact(before + 3_000_000) in summary
    assert await balance(gw, t.account_id) == before + 3_000_000
    await page.dblclick("#confirm")
    await page.wait_for_selector("text=recorded")
    assert await balance(gw, t.account_id) == before + 1_750_000
    adjustments = [r for r in await ledger(gw, t.account_id) if r["kind"] == "adjustment"]
    assert [(r["amount_micros"], r["reason"]) for r in adjustments] == [
        (-1_250_000, "duplicate charge")
    ]


async def test_an_operator_refund_is_confirmed_in_dollars_and_made_once(
    gw: Gateway, page: Page
) -> None:
    t = await tenant(gw, credit=0, scopes=SCOPES)
    await Biller(gw, t).topup(4_000_000)  # paid on the local provider's page
    await sign_in(page, ADMIN_KEY)
    await page.goto(f"/dashboard/operators/accounts/{t.account_id}")
    form = "#payments form[action$='/confirm/refund']"
    await page.fill(f"{form} input[name=amount]", "1.50")
    await page.click(f"{form} button")
    assert "Refund $1.50 of payment pi_local_" in await page.inner_text("#confirm-summary")
    assert await balance(gw, t.account_id) == 4_000_000  # nothing moves before Confirm
    await page.dblclick("#confirm")
    await page.wait_for_selector("text=recorded")  # 'Refund made' or, second, 'Already'
    await page.go_back()
    await page.click("#confirm")
    await page.wait_for_selector("text=Already recorded")
    assert await balance(gw, t.account_id) == 2_500_000
    refunds = [r for r in await ledger(gw, t.account_id) if r["kind"] == "refund"]
    assert [r["amount_micros"] for r in refunds] == [-1_500_000]


async def test_an_account_redis_lost_reads_as_unknown_not_a_500(gw: Gateway, page: Page) -> None:
    """Until `meterway rebuild` writes it back, an account whose live record Redis lost shows
    its balance as unknown; the page itself still answers."""
    t = await tenant(gw, scopes=SCOPES)
    await sign_in(page, t.key)
    await gw.store.redis.delete(gw.store.keys.account(shard_of(t.account_id), t.account_id))
    response = await page.goto(gw.url + "/dashboard/")
    assert response is not None and response.status == 200
    assert await page.inner_text("#balance") == "—"
    assert await page.locator("#forecast").count() == 0


async def test_an_operator_sees_an_accounts_spend_charted_from_its_ledger(
    gw: Gateway, page: Page
) -> None:
    t = await tenant(gw, scopes=SCOPES)
    await chat(gw, t.key)
    await chat(gw, t.key, model="gpt-4o")
    await gw.settle_all()
    await sign_in(page, ADMIN_KEY)
    await page.goto(f"/dashboard/operators/accounts/{t.account_id}?stack=model")
    series = json.loads(await page.inner_text("script[data-chart=chart-daily]"))
    charted = {d: v for d, v in zip(series["days"], series["values"], strict=True) if v}
    expected = daily_spend(await ledger(gw, t.account_id))
    assert charted == expected and sum(expected.values()) > 0
    assert {s["label"] for s in series["series"]} == {"gpt-4o-mini", "gpt-4o"}
    await page.wait_for_selector("#chart-daily canvas")  # uPlot drew it
    assert await page.inner_text("#spend-total") == usd(sum(expected.values()))
