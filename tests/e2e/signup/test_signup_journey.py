"""The self-serve journey in Chromium: a person signs up on the dashboard, verifies by the
e-mailed link, (under SIGNUP_POLICY=approval) waits while their key is refused, is
approved by the operator and e-mailed, receives the plan's trial grant, spends it to a
402 and tops up with the local payment provider. The same journey under `open` skips the
approval. The plan's trial is made small here so a few calls spend it."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import openai
import pytest
from playwright.async_api import Browser, Page, async_playwright

from gateway.config.settings import DEFAULT_CONFIG_DIR
from tests.e2e.signup.test_signup_api import signup_env
from tests.e2e.test_signin_people import mail_to
from tests.support.browser_kit import launch, low_contrast, unlabelled
from tests.support.factories import balance, openai_client
from tests.support.fakes.smtp_sink import Mailbox, smtp_server
from tests.support.harness import ADMIN_KEY, Gateway, free_port, running_gateway

LINK = re.compile(r"http://\S+/dashboard/signup/verify/[\w-]+")
TRIAL = 300  # micros: a few small calls
TOPUP = 5_000_000


def small_trial(path: Path) -> Path:
    """The shipped config with the free plan's trial cut to TRIAL micros."""
    for stem in ("pricing", "meters"):
        (path / f"{stem}.toml").write_text((DEFAULT_CONFIG_DIR / f"{stem}.toml").read_text())
    plans = (DEFAULT_CONFIG_DIR / "plans.toml").read_text()
    cut = plans.replace('trial = { amount = "1.00"', 'trial = { amount = "0.0003"')
    assert cut != plans
    (path / "plans.toml").write_text(cut)
    return path


async def accessible(page: Page) -> None:
    """Every input labelled, text at WCAG AA contrast (as every dashboard page)."""
    assert await unlabelled(page) == [], page.url
    assert await low_contrast(page) == [], page.url


async def _sign_up(page: Page, box: Mailbox, public: str) -> str:
    email = f"grace-{secrets.token_hex(4)}@example.com"  # the test database is shared
    await page.goto(public + "/dashboard/signin")
    await page.click("#signup-link")
    await accessible(page)
    await page.fill("#signup-email", email)
    await page.click("form[action='/dashboard/signup'] button")
    await page.wait_for_selector("#signup-notice")
    await accessible(page)  # the code's form
    (mail,) = await mail_to(box, email, "Verify your e-mail")
    text = mail.get_body(("plain",))
    assert text is not None
    (link,) = LINK.findall(text.get_content())
    await page.goto(link)
    await accessible(page)
    await page.click("#verify")
    await page.wait_for_url(public + "/dashboard/")
    return email


async def _new_key(page: Page, public: str) -> str:
    await page.goto(public + "/dashboard/keys")
    await page.fill("#key-name", "first")
    await page.fill("#key-models", "gpt-4o-mini")  # the free plan names its models
    await page.click("#create-key button[type=submit]")
    await page.wait_for_load_state()
    if not await page.is_visible("#secret"):
        raise AssertionError(await page.inner_text("main"))
    return await page.input_value("#secret")


async def _call(gw: Gateway, key: str, words: int = 1) -> openai.APIStatusError | None:
    """A call of about `words` input tokens (1000 cost gpt-4o-mini 150 micros)."""
    prompt = " ".join(["word"] * words)
    async with openai_client(gw, key) as client:
        try:
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}], max_tokens=50
            )
        except openai.APIStatusError as exc:
            return exc
    return None


async def _spend_to_402(gw: Gateway, key: str) -> str:
    for _ in range(10):
        refused = await _call(gw, key, words=1000)
        if refused is not None:
            assert refused.status_code == 402, refused
            assert isinstance(refused.body, dict)
            return str(refused.body["next"]["url"])
        await gw.settle_all()
    raise AssertionError("the trial was never spent")


async def _top_up(page: Page, gw: Gateway, account_id: str, url: str, public: str) -> None:
    await page.goto(url)
    await page.fill("#topup-amount", "5")
    await page.click("#topup button")
    await page.wait_for_url(re.compile(re.escape(public) + "/billing/local/checkout/"))
    await page.click("button[value=pay]")
    assert await page.inner_text("#outcome") == "succeeded"
    await page.click("#back")
    await page.wait_for_url(re.compile(re.escape(public) + "/dashboard/billing"))
    assert await balance(gw, account_id) >= TOPUP


async def _approve_on_the_operators_page(browser: Browser, public: str, account_id: str) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    page.set_default_timeout(15_000)
    await page.goto(public + "/dashboard/signin")
    await page.fill("#credential", ADMIN_KEY)
    await page.click("form[action='/dashboard/signin'] button[type=submit]")
    await page.click("text=Sign-ups")
    await accessible(page)
    await page.click(f"tr[data-account='{account_id}'] button.approve")
    assert "approved" in await page.inner_text("#signups-notice")
    assert await page.query_selector(f"#pending tr[data-account='{account_id}']") is None
    await context.close()


async def _journey(dsn: str, tmp_path: Path, policy: str) -> None:
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    with smtp_server() as box:
        env = signup_env(port, box, policy, MW_CONFIG_DIR=str(small_trial(tmp_path)))
        async with running_gateway(dsn, None, **env) as gw, async_playwright() as pw:
            browser = await launch(pw)
            page = await browser.new_page()
            page.set_default_timeout(15_000)
            email = await _sign_up(page, box, public)
            key = await _new_key(page, public)
            status, listed = await gw.admin("GET", "/admin/v1/signups")
            assert status == 200
            (mine,) = [s for s in listed["data"] if s["email"] == email]
            account_id = mine["account_id"]
            if policy == "approval":
                await page.goto(public + "/dashboard/")
                assert "waiting for the operator's approval" in await page.inner_text("main")
                refused = await _call(gw, key)
                assert refused is not None and refused.status_code == 403
                assert await balance(gw, account_id) == 0
                await _approve_on_the_operators_page(browser, public, account_id)
                await mail_to(box, email, "approved")
            assert await balance(gw, account_id) == TRIAL
            status, grants = await gw.admin("GET", f"/admin/v1/accounts/{account_id}/grants")
            assert [g["kind"] for g in grants["data"]] == ["trial"], grants
            fix = await _spend_to_402(gw, key)
            assert fix == f"{public}/dashboard/billing#topup"
            await _top_up(page, gw, account_id, fix, public)
            assert await _call(gw, key) is None
            await browser.close()


@pytest.mark.timeout(480)
async def test_sign_up_under_approval(dsn: str, tmp_path: Path) -> None:
    await _journey(dsn, tmp_path, "approval")


@pytest.mark.timeout(480)
async def test_sign_up_under_open(dsn: str, tmp_path: Path) -> None:
    await _journey(dsn, tmp_path, "open")
