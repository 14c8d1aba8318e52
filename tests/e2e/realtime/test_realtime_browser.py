"""The Realtime guide's browser voice client, copied from docs/guides/realtime.md as it
stands: its server mints a client secret with the key, the page (headless Chromium, a fake
microphone) opens the gateway's socket with it, speaks, and hears the answer; the answer is
billed to the key's account."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiohttp import web
from playwright.async_api import async_playwright

from tests.e2e.realtime.test_realtime import cost, rt  # noqa: F401 (the fixture)
from tests.support.browser_kit import ARGS, CHROMIUM
from tests.support.factories import debits, held, tenant
from tests.support.fakes.realtime import RealtimeControl
from tests.support.harness import Gateway, listen

GUIDE = Path(__file__).parents[3] / "docs" / "guides" / "realtime.md"


def block(language: str, index: int = 0) -> str:
    found: list[str] = re.findall(rf"```{language}\n(.*?)```", GUIDE.read_text(), re.S)
    return found[index]


async def your_server(gw: Gateway, key: str) -> tuple[web.AppRunner, str]:
    """The guide's server code and page, with this gateway's address and this key."""
    code = block("python", 1).replace("https://meterway.example.com", gw.url)
    namespace: dict[str, Any] = {}
    exec(compile(code.replace("mw-...", key), "guide", "exec"), namespace)
    page = block("html").replace("wss://meterway.example.com", gw.url.replace("http", "ws", 1))

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_post("/session", namespace["session"])
    runner = web.AppRunner(app)
    await runner.setup()
    port = await listen(runner)
    return runner, f"http://127.0.0.1:{port}/"


async def test_the_guides_browser_client_talks_through_a_client_secret(
    rt: tuple[Gateway, RealtimeControl],  # noqa: F811
) -> None:
    gw, fake = rt
    fake.turn_after = 5  # the fake microphone's tone never falls silent
    t = await tenant(gw)
    runner, url = await your_server(gw, t.key)
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=[
                    *ARGS,
                    "--use-fake-ui-for-media-stream",
                    "--use-fake-device-for-media-stream",
                ],
            )
            page = await browser.new_page()
            errors: list[str] = []
            page.on(
                "console",
                lambda m: (
                    errors.append(m.text)
                    if m.type == "error" and "favicon" not in m.location.get("url", "")
                    else None
                ),
            )
            await page.goto(url)
            await page.click("#talk")
            for _ in range(200):
                if fake.responses:
                    break
                await page.wait_for_timeout(50)
            await browser.close()
    finally:
        await runner.cleanup()
    assert errors == []
    assert all(t.key not in str(h) for h in fake.headers)
    [done] = fake.responses
    rows = await debits(gw, t.account_id)
    assert [-r["amount_micros"] for r in rows] == [cost(done["usage"])]
    assert await held(gw, t.account_id) == 0
