"""A browser-like client of the dashboard, without a browser: its sign-in form, CSRF and all."""

from __future__ import annotations

import re

import aiohttp

from tests.support.harness import Gateway

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def sign_in(gw: Gateway, credential: str) -> tuple[aiohttp.ClientSession, int, str]:
    """A client signed in (or not): the client, the sign-in answer's status and page."""
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.get(gw.url + "/dashboard/signin") as r:
        token = CSRF.search(await r.text())
    assert token is not None
    data = {"csrf": token.group(1), "credential": credential}
    async with http.post(gw.url + "/dashboard/signin", data=data) as r:
        return http, r.status, await r.text()


async def signed_in(gw: Gateway, credential: str) -> aiohttp.ClientSession:
    """A client signed in with `credential` (a key or a person's token): the caller closes it."""
    http, status, text = await sign_in(gw, credential)
    assert status == 200, text
    return http


async def page(http: aiohttp.ClientSession, gw: Gateway, path: str) -> tuple[str, str]:
    """The page at `path` for this client: where it ended (after redirects) and its text."""
    async with http.get(gw.url + path) as r:
        return r.url.path, await r.text()
