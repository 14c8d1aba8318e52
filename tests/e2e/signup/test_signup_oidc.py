"""A person who signs in with the identity provider and has no invitation signs up when
sign-up is open (their address verified by the provider): their own organization, its
owner bound to their (issuer, subject), its trial; under `closed` they are refused."""

from __future__ import annotations

import secrets

import pytest
from playwright.async_api import async_playwright

from tests.e2e.signup.test_signup_api import signup_env
from tests.support.browser_kit import launch
from tests.support.factories import balance
from tests.support.fakes.oidc_idp import oidc_provider
from tests.support.fakes.smtp_sink import smtp_server
from tests.support.harness import free_port, running_gateway

TRIAL = 1_000_000


@pytest.mark.timeout(480)
async def test_an_uninvited_identity_signs_up_when_sign_up_is_open(dsn: str) -> None:
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    email = f"lin-{secrets.token_hex(4)}@example.com"
    with smtp_server() as box:
        async with oidc_provider(public) as oidc:
            env = oidc | signup_env(port, box, "open")
            async with running_gateway(dsn, None, **env) as gw, async_playwright() as pw:
                browser = await launch(pw)
                page = await browser.new_page()
                page.set_default_timeout(15_000)
                await page.goto(public + "/dashboard/signin")
                await page.click("text=Sign in with Test IdP")
                await page.fill("input[name=login]", email)
                await page.fill("input[name=password]", "anything")
                await page.click("button[type=submit]")
                await page.wait_for_url(public + "/dashboard/")
                assert await page.inner_text("#balance") == "$1.00"
                await browser.close()
                status, listed = await gw.admin("GET", "/admin/v1/signups")
                (mine,) = [s for s in listed["data"] if s["email"] == email]
                assert mine["via"] == "oidc" and mine["status"] == "active"
                assert await balance(gw, mine["account_id"]) == TRIAL
                path = f"/admin/v1/accounts/{mine['account_id']}/members"
                status, members = await gw.admin("GET", path)
                assert status == 200
                (owner,) = members["data"]
                assert owner["role"] == "owner" and owner["subject"] == email
