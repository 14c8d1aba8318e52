"""docs/getting-started.md's "Your first customer", run as a reader runs it: `meterway dev`,
then each of the section's shell blocks in bash, in order, sharing their variables, and the
two steps done in a browser (the dashboard sign-in, the Pay button) in Chromium.

Only the port changes: the blocks' `http://127.0.0.1:8080` becomes this test's gateway."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright

from gateway.cli.dev_guard import DEV_ADMIN_KEY
from tests.bench.procs import wait_port
from tests.support.browser_kit import launch
from tests.support.harness import REDIS_URL, drop_prefix, free_port, temp_database

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "getting-started.md"
SECTION = "## Your first customer"
DOCUMENTED_URL = "http://127.0.0.1:8080"
BIN = Path(sys.executable).parent


def tutorial_blocks() -> list[str]:
    text = TUTORIAL.read_text()
    section = text[text.index(SECTION) :]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)


@dataclass
class Shell:
    """Runs blocks in bash one after another, each seeing the variables the earlier set."""

    url: str
    env: dict[str, str]
    state: Path
    names: list[str] = field(default_factory=list)

    def run(self, block: str) -> str:
        self.names += re.findall(r"^(?:export )?([A-Z_]+)=", block, flags=re.M)
        script = block.replace(DOCUMENTED_URL, self.url)
        names = " ".join(sorted(set(self.names)))
        keep = f"{{ declare -p {names} 2>/dev/null || true; }} > {self.state}" if names else ""
        done = subprocess.run(
            ["bash", "-c", f"set -euo pipefail\nsource {self.state}\n{script}\n{keep}"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"{script}\n--- exit {done.returncode}:\n{done.stderr}"
        return done.stdout

    def value(self, name: str) -> str:
        return self.run(f'printf %s "${name}"')


@dataclass
class Dev:
    url: str
    env: dict[str, str]  # its database and Redis prefix, for server-side commands


@pytest.fixture
async def dev_gateway(tmp_path: Path) -> AsyncIterator[Dev]:
    """`meterway dev` on its own database, Redis prefix and port."""
    port, prefix = free_port(), f"mwtut{secrets.token_hex(4)}"
    async with temp_database() as dsn:
        env = {**os.environ, "DATABASE_URL": dsn, "REDIS_URL": REDIS_URL}
        env.update(
            REDIS_PREFIX=prefix, LISTEN_ADDR=f"127.0.0.1:{port}", ADMIN_API_KEY=DEV_ADMIN_KEY
        )
        log = tmp_path / "dev.log"
        with log.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                BIN / "meterway", "dev", env=env, stdout=out, stderr=out
            )
        try:
            await asyncio.to_thread(wait_port, port, 60.0)
            yield Dev(f"http://127.0.0.1:{port}", env)
        finally:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 30)
            await drop_prefix(REDIS_URL, prefix)
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


@pytest.fixture
def shell(dev_gateway: Dev, tmp_path: Path) -> Iterator[Shell]:
    assert shutil.which("jq") and shutil.which("curl"), "the tutorial needs curl and jq"
    state = tmp_path / "state.sh"
    state.write_text("")
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    yield Shell(dev_gateway.url, env, state)


async def _dashboard_text(page: Page) -> str:
    await page.goto("/dashboard")
    return await page.inner_text("main")


@pytest.mark.timeout(360)
async def test_the_first_customer_tutorial_runs_as_written(shell: Shell, dev_gateway: Dev) -> None:
    blocks = tutorial_blocks()
    assert len(blocks) == 4, "the test follows the tutorial's four shell blocks"
    setup, call, topup, status = blocks

    assert "the person's key: mw-" in shell.run(setup)
    answered = shell.run(call)
    assert '"cost_micros": 8' in answered and '"kind": "debit"' in answered, answered

    async with async_playwright() as pw:
        browser = await launch(pw)
        context = await browser.new_context(base_url=shell.url)
        context.set_default_timeout(15_000)
        page = await context.new_page()
        await page.goto("/dashboard/signin")
        await page.fill("#credential", shell.value("PERSON_KEY"))
        await page.click("button[type=submit]")
        assert "$9.99" in await _dashboard_text(page)  # $10 less the call's 8 micros

        printed = shell.run(topup)
        pay_url = re.search(r"https?://\S+/checkout/\S+", printed)
        assert pay_url, printed
        await page.goto(pay_url.group(0))
        await page.click("button[value=pay]")
        await page.wait_for_load_state()
        assert "succeeded" in await page.inner_text("body")
        assert "$14.99" in await _dashboard_text(page)
        await browser.close()

    assert "14.99" in shell.run(status)
    reconcile = await asyncio.create_subprocess_exec(
        BIN / "meterway", "reconcile", env=dev_gateway.env, stdout=subprocess.PIPE
    )
    out, _ = await reconcile.communicate()
    assert reconcile.returncode == 0, out.decode()  # every ledger balance equals Redis's


async def _banner(log: Path) -> str:
    """`meterway dev`'s banner, printed once it serves."""
    text = ""
    for _ in range(200):
        text = await asyncio.to_thread(log.read_text)
        if "Ctrl-C stops it." in text:
            return text
        await asyncio.sleep(0.05)
    raise AssertionError(f"no banner in {text[-2000:]}")


@pytest.mark.timeout(480)
async def test_the_dev_banner_names_the_dashboard_and_its_demo_key_signs_in(
    dev_gateway: Dev, tmp_path: Path
) -> None:
    banner = await _banner(tmp_path / "dev.log")
    dashboard = re.search(r"Dashboard: (\S+/dashboard) \(sign in with the demo key\)", banner)
    key = re.search(r"demo key \(shown once\): (mw-\S+)", banner)
    assert dashboard and key, banner
    assert dashboard.group(1) == f"{dev_gateway.url}/dashboard"
    async with async_playwright() as pw:
        browser = await launch(pw)
        page = await browser.new_page()
        await page.goto(dashboard.group(1) + "/signin")
        await page.fill("#credential", key.group(1))
        await page.click("button[type=submit]")
        await page.wait_for_url("**/dashboard/")
        assert "$10.00" in await page.inner_text("#balance")  # the demo account's credit
        for path in ("/keys", "/usage", "/billing", "/members"):
            answer = await page.goto(dashboard.group(1) + path)
            assert answer is not None and answer.status == 200, path
        await browser.close()
