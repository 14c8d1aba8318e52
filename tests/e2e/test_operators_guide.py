"""docs/guides/operators.md run as an operator runs it: `meterway dev`, then each of its shell
blocks in bash, in order, sharing their variables, and the customer's steps (accept the
invitation, top up and pay) in Chromium. No block may use curl: the guide's promise.

Only the port changes: the blocks' `http://127.0.0.1:8080` becomes this test's gateway."""

from __future__ import annotations

import asyncio
import re
import subprocess
from datetime import UTC, datetime

import pytest
from playwright.async_api import async_playwright

from tests.e2e.test_tutorial import BIN, ROOT, Dev, Shell, dev_gateway, shell
from tests.support.browser_kit import launch

GUIDE = ROOT / "docs" / "guides" / "operators.md"
__all__ = ["dev_gateway", "shell"]  # the tutorial's fixtures, used here


def guide_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", GUIDE.read_text(), flags=re.S)


def test_the_guide_never_needs_curl() -> None:
    assert guide_blocks() and not any("curl" in block for block in guide_blocks())


@pytest.mark.timeout(480)
async def test_the_operators_guide_runs_as_written(shell: Shell, dev_gateway: Dev) -> None:
    blocks = guide_blocks()
    assert len(blocks) == 7, "the test follows the guide's seven shell blocks"
    terminal, open_account, invite, team_and_key, app_call, usage, later = blocks

    shell.run(terminal)
    opened = shell.run(open_account)
    account = shell.value("ACCOUNT")
    assert opened.count(account) == 2 and "balance  $10.00" in opened, opened  # credited once
    invited = shell.run(invite)
    accept = re.search(r"https?://\S+/dashboard/signin/invitation/\S+", invited)
    assert accept and "owner@acme.example  owner  invited" in invited, invited
    keys = shell.run(team_and_key)
    assert keys.startswith("KEY  ") and "web-app" in keys, keys
    assert "prompt_tokens" in shell.run(app_call)

    async with async_playwright() as pw:
        browser = await launch(pw)
        context = await browser.new_context(base_url=shell.url)
        context.set_default_timeout(15_000)
        page = await context.new_page()
        await page.goto(accept.group(0))
        await page.click("#accept")
        await page.goto("/dashboard/billing")
        await page.fill("#topup-amount", "20")
        await page.click("#topup button[type=submit]")
        await page.click("button[value=pay]")
        await page.wait_for_load_state()
        assert "succeeded" in await page.inner_text("body")
        await browser.close()

    read = shell.run(usage)
    month = datetime.now(UTC).strftime("%Y-%m")
    assert "gpt-4o-mini" in read and month in read, read
    assert re.search(r"balance  \$29\.99", read), read  # $10 + $20, less the call
    done = shell.run(later)
    assert "old secret works until" in done and "is now billing" in done, done
    reconcile = await asyncio.create_subprocess_exec(
        BIN / "meterway", "reconcile", env=dev_gateway.env, stdout=subprocess.PIPE
    )
    out, _ = await reconcile.communicate()
    assert reconcile.returncode == 0, out.decode()
