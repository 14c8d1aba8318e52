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
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from tests.browser_kit import launch
from tests.e2e.test_cli_billing import meterway
from tests.e2e.test_signup_api import fresh, signed_up
from tests.harness import Gateway, free_port, running_gateway
from tests.smtp_sink import smtp_server

PAGE = re.compile(r"Open (http://\S+/dashboard/device\?code=(\S+))")


async def _login(gw: Gateway, home: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "XDG_CONFIG_HOME": str(home), "METERWAY_API_URL": gw.url}
    env.pop("METERWAY_TOKEN", None)
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "login",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip


@pytest.mark.timeout(120)
async def test_login_approve_status_logout(dsn: str, tmp_path: Path) -> None:
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    with smtp_server() as box:
        env = {
            "LISTEN_ADDR": f"127.0.0.1:{port}",
            "PUBLIC_URL": public,
            "SMTP_URL": box.url,
            "NOTIFY_EMAIL_FROM": "meterway@example.com",
            "SIGNUP_POLICY": "open",
        }
        async with running_gateway(dsn, **env) as gw, async_playwright() as pw:
            email = fresh()
            done = await signed_up(gw, box, email)
            browser = await launch(pw)
            page = await browser.new_page()
            page.set_default_timeout(15_000)
            await page.goto(done["signin_url"])
            await page.click("form[action*='/signin/link/'] button")
            await page.wait_for_url(public + "/dashboard/")

            proc = await _login(gw, tmp_path)
            assert proc.stdout is not None
            first = (await proc.stdout.readline()).decode()
            found = PAGE.search(first)
            assert found is not None, first
            url, code = found.groups()
            await page.goto(url)
            assert await page.inner_text("#device-code") == code
            await page.click("#approve")
            await page.wait_for_selector("#device-done")
            out, err = await asyncio.wait_for(proc.communicate(), 30)
            assert proc.returncode == 0, (out, err)
            await browser.close()

            token_file = tmp_path / "meterway" / "token"
            assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
            token = token_file.read_text().strip()
            assert token.startswith("mw-")
            status = await meterway(gw, tmp_path, "billing", "status")
            assert status.code in (0, 3) and done["account_id"] in status.out, status
            who = await meterway(gw, tmp_path, "auth", "status")
            assert who.code == 0 and email in who.out and "owner" in who.out, who
            assert "expires" in who.out and "never" not in who.out

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
            status, audit = await gw.admin(
                "GET", f"/admin/v1/audit?account_id={done['account_id']}"
            )
            assert {"device.approve", "auth.logout", "key.create"} <= {
                e["action"] for e in audit["data"]
            }


@pytest.mark.timeout(60)
async def test_a_denied_code_gives_nothing(dsn: str, tmp_path: Path) -> None:
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    with smtp_server() as box:
        env = {
            "LISTEN_ADDR": f"127.0.0.1:{port}",
            "PUBLIC_URL": public,
            "SMTP_URL": box.url,
            "NOTIFY_EMAIL_FROM": "meterway@example.com",
            "SIGNUP_POLICY": "open",
        }
        async with running_gateway(dsn, **env) as gw, async_playwright() as pw:
            done = await signed_up(gw, box, fresh())
            browser = await launch(pw)
            page = await browser.new_page()
            await page.goto(done["signin_url"])
            await page.click("form[action*='/signin/link/'] button")
            proc = await _login(gw, tmp_path)
            assert proc.stdout is not None
            found = PAGE.search((await proc.stdout.readline()).decode())
            assert found is not None
            await page.goto(found.group(1))
            await page.click("#deny")
            await page.wait_for_selector("#device-done")
            _, err = await asyncio.wait_for(proc.communicate(), 30)
            assert proc.returncode == 1 and b"denied" in err, err
            assert not (tmp_path / "meterway" / "token").exists()
            await browser.close()
