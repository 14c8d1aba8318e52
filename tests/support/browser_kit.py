"""Headless Chromium for the dashboard tests: Debian's /usr/bin/chromium driven by Playwright
(never a downloaded browser), screenshots as artifacts, and the accessibility checks.

`launch()` gives each browser a fresh temporary profile (user-data-dir) of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, Playwright, ViewportSize

from tests.support.harness import Gateway

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parents[1] / "artifacts" / "dashboard"
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}


async def launch(pw: Playwright) -> Browser:
    return await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)


async def new_page(browser: Browser, gw: Gateway) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(base_url=gw.url, viewport=DESKTOP)
    context.set_default_timeout(15_000)
    return context, await context.new_page()


async def sign_in(page: Page, credential: str) -> None:
    await page.goto("/dashboard/signin")
    await page.fill("#credential", credential)
    await page.click("button[type=submit]")
    await page.wait_for_load_state()


async def screenshots(page: Page, name: str) -> None:
    """The current page at desktop and phone width, full length, into tests/artifacts."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        await page.set_viewport_size(size)
        await page.wait_for_timeout(50)  # let the chart follow the resize
        await page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=True)
    await page.set_viewport_size(DESKTOP)


async def light_and_dark(page: Page, name: str) -> None:
    """`screenshots` in the light scheme (`NAME-desktop.png`, `NAME-phone.png`), then in the
    dark one (`NAME-dark-desktop.png`, ...), the page reloaded so its charts are drawn in it."""
    await screenshots(page, name)
    await page.emulate_media(color_scheme="dark")
    await page.reload()
    await screenshots(page, f"{name}-dark")
    await page.emulate_media(color_scheme="light")
    await page.reload()


class Problems:
    """What went wrong in a page while a test drove it: console errors, uncaught errors,
    requests that failed or were answered with a 4xx/5xx status."""

    def __init__(self, page: Page) -> None:
        self.found: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.found.append(f"uncaught: {exc}"))
        page.on("requestfailed", lambda r: self.found.append(f"failed: {r.method} {r.url}"))
        page.on("response", self._response)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.found.append(f"console: {message.text} at {message.location.get('url')}")

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.found.append(f"status {response.status}: {response.url}")


async def overflow_px(page: Page, phone_px: int = PHONE["width"]) -> int:
    """How far the page is wider than a phone's viewport (0: nothing scrolls sideways)."""
    await page.set_viewport_size({"width": phone_px, "height": PHONE["height"]})
    await page.wait_for_timeout(50)
    width: int = await page.evaluate("document.documentElement.scrollWidth")
    await page.set_viewport_size(DESKTOP)
    return max(0, width - phone_px)


UNLABELLED_JS = """
() => [...document.querySelectorAll('input, select, textarea')]
  .filter(el => el.type !== 'hidden')
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.getAttribute('aria-labelledby'))
  .map(el => el.outerHTML.slice(0, 120))
"""

# WCAG 2.x relative luminance and contrast of every text node's colour against the first
# opaque background behind it.
CONTRAST_JS = """
() => {
  const parse = c => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const p = m[1].split(',').map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const lum = ([r, g, b]) => { const f = v => { v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const bg = el => { for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor); if (c && c[3] >= 0.99) return c; }
    return [255, 255, 255, 1]; };
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (!el || seen.has(el) || !walker.currentNode.textContent.trim()) continue;
    seen.add(el);
    const s = getComputedStyle(el), r = el.getBoundingClientRect();
    if (s.visibility === 'hidden' || s.display === 'none') continue;
    if (r.width === 0 || r.height === 0) continue;
    if (el.closest('.sr, .skip, script, .u-legend')) continue;
    const fg = parse(s.color), b = bg(el);
    const [hi, lo] = [lum(fg), lum(b)].sort((x, y) => y - x);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(s.fontSize), bold = parseInt(s.fontWeight) >= 700;
    const large = size >= 24 || (bold && size >= 18.66);
    out.push({text: walker.currentNode.textContent.trim().slice(0, 40), ratio,
              need: large ? 3 : 4.5});
  }
  return out;
}
"""


async def unlabelled(page: Page) -> list[str]:
    found: list[str] = await page.evaluate(UNLABELLED_JS)
    return found


async def low_contrast(page: Page) -> list[dict[str, Any]]:
    """Text whose contrast with its background is below WCAG AA (4.5, 3 for large text)."""
    rows: list[dict[str, Any]] = await page.evaluate(CONTRAST_JS)
    assert rows, "no text measured"
    return [r for r in rows if r["ratio"] < r["need"]]
