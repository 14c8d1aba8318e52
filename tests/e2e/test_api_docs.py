"""/docs/api: the OpenAPI document browsable in Chromium, from assets the package ships."""

from __future__ import annotations

from playwright.async_api import Page

from tests.support.harness import Gateway


async def test_the_api_page_lists_the_routes_with_no_console_error(page: Page, gw: Gateway) -> None:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
    await page.goto(gw.url + "/docs/api")
    await page.get_by_text("/v1/chat/completions", exact=True).first.wait_for(timeout=20_000)
    assert await page.locator(".opblock").count() > 50
    assert problems == []


async def test_an_unknown_asset_is_a_404(gw: Gateway) -> None:
    async with gw.http.get(gw.url + "/docs/api/nothing.js") as r:
        assert r.status == 404
    async with gw.http.get(gw.url + "/docs/api/swagger-ui-bundle.js") as r:
        assert r.status == 200 and r.headers["content-type"].startswith("text/javascript")
