"""Browser fixtures for the dashboard tests: one Chromium per module, a fresh context per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.support.browser_kit import launch, new_page
from tests.support.harness import Gateway


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        chromium = await launch(pw)
        yield chromium
        await chromium.close()


@pytest.fixture
async def page(browser: Browser, gw: Gateway) -> AsyncIterator[Page]:
    context, tab = await new_page(browser, gw)
    yield tab
    await context.close()
