"""`meterway login` against a real gateway: the CLI prints a page and a code, the person
approves the code in Chromium (signed in to their dashboard), the CLI saves the token it
receives (0600), `meterway billing status` and `auth status` work with it, `auth token`
mints only within it, and after `meterway logout` the token is refused."""

from __future__ import annotations

import asyncio
import os
import re
import stat
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, async_playwright

from tests.e2e.cli.test_cli_billing import meterway
from tests.e2e.signup.test_signup_api import fresh, signed_up, signup_env
from tests.e2e.signup.test_signup_journey import accessible
from tests.support.browser_kit import launch
from tests.support.fakes.smtp_sink import smtp_server
from tests.support.harness import Gateway, free_port, running_gateway

PAGE = re.compile(r"Open (http://\S+/dashboard/device\?code=(\S+))")


async def _login(gw: Gateway, home: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "XDG_CONFIG_HOME": str(home), "METERWAY_API_URL": gw.url}
    env.pop("METERWAY_TOKEN", None)
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "login",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip


@dataclass
class SignedIn:
    gw: Gateway
    page: Page
    done: dict[str, Any]  # /v1/auth/verify's answer
    email: str


@pytest.fixture
async def signed_in(dsn: str) -> AsyncIterator[SignedIn]:
    """A gateway under the open policy and a person who signed up, signed in to their
    dashboard in Chromium (by the sign-in link /v1/auth/verify answers)."""
    port = free_port()
    with smtp_server() as box:
        env = signup_env(port, box, "open")
        async with running_gateway(dsn, None, **env) as gw, async_playwright() as pw:
            email = fresh()
            done = await signed_up(gw, box, email)
            browser = await launch(pw)
            page = await browser.new_page()
            page.set_default_timeout(15_000)
            await page.goto(done["signin_url"])
            await page.click("form[action*='/signin/link/'] button")
            await page.wait_for_url(gw.url + "/dashboard/")
            yield SignedIn(gw, page, done, email)
            await browser.close()


async def _code_page(who: SignedIn, home: Path) -> tuple[asyncio.subprocess.Process, str]:
    """`meterway login` started, and its page opened in the person's browser."""
    proc = await _login(who.gw, home)
    assert proc.stdout is not None
    first = (await proc.stdout.readline()).decode()
    found = PAGE.search(first)
    assert found is not None, first
    url, code = found.groups()
    await who.page.goto(url)
    return proc, code


@pytest.mark.timeout(480)
async def test_login_approve_status_logout(signed_in: SignedIn, tmp_path: Path) -> None:
    gw, page, done, email = signed_in.gw, signed_in.page, signed_in.done, signed_in.email
    proc, code = await _code_page(signed_in, tmp_path)
    assert await page.inner_text("#device-code") == code
    await accessible(page)
    await page.click("#approve")
    await page.wait_for_selector("#device-done")
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, (out, err)
    assert b"for 30 days (until " in out, out  # CLI_TOKEN_TTL_S's 30 days, not 29
    assert re.search(rb"until \d{1,2} \w{3} \d{4} \d\d:\d\d UTC\)", out), out  # as people read it

    token_file = tmp_path / "meterway" / "token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = token_file.read_text().strip()
    assert token.startswith("mw-")
    status = await meterway(gw, tmp_path, "billing", "status")
    assert status.code in (0, 3) and done["account_id"] in status.out, status
    who = await meterway(gw, tmp_path, "auth", "status")
    assert who.code == 0 and email in who.out and "owner" in who.out, who
    assert re.search(r"expires   \d{1,2} \w{3} \d{4} \d\d:\d\d UTC \(in (29|30) days", who.out), who

    narrow = await meterway(gw, tmp_path, "auth", "token", "--scope", "chat")
    assert narrow.code == 0 and narrow.out.startswith("mw-"), narrow
    wider = await meterway(gw, tmp_path, "auth", "token", "--scope", "chat admin")
    assert wider.code == 1 and "403" in wider.err, wider

    bye = await meterway(gw, tmp_path, "logout")
    assert bye.code == 0 and not token_file.exists(), bye
    token_file.write_text(token + "\n")
    refused = await meterway(gw, tmp_path, "billing", "status")
    assert refused.code == 1 and "401" in refused.err, refused
    async with gw.http.get(
        gw.url + "/v1/account", headers={"Authorization": f"Bearer {narrow.out.strip()}"}
    ) as r:
        assert r.status == 401  # a token minted under it went with it
    answered, audit = await gw.admin("GET", f"/admin/v1/audit?account_id={done['account_id']}")
    actions = {e["action"] for e in audit["data"]} if answered == 200 else set()
    assert {"device.approve", "auth.logout", "key.create"} <= actions, audit


@pytest.mark.timeout(480)
async def test_a_denied_code_gives_nothing(signed_in: SignedIn, tmp_path: Path) -> None:
    proc, _ = await _code_page(signed_in, tmp_path)
    await signed_in.page.click("#deny")
    await signed_in.page.wait_for_selector("#device-done")
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1 and b"denied" in err, err
    assert not (tmp_path / "meterway" / "token").exists()
