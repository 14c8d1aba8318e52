"""The page a signed-out person asked for, kept across the sign-in: "Back to billing" from a
provider's page, or a link in an e-mail, lands there once they signed in, not on Overview.

It is a short-lived cookie on /dashboard holding a path, set when a signed-out GET is sent
to the sign-in page. Only a dashboard path is kept or followed (never another origin, never
the sign-in pages), so it cannot be made an open redirect."""

from __future__ import annotations

from aiohttp import web

NEXT_COOKIE = "mw_after_signin"
NEXT_TTL_S = 900
MAX_CHARS = 1000


def _kept(path: str, base: str) -> bool:
    """A dashboard page other than the sign-in ones: no scheme, host, backslash or control
    character can ride along."""
    if not path.startswith(base + "/") or len(path) > MAX_CHARS or path.startswith("//"):
        return False
    if any(c in "\\" or ord(c) < 33 for c in path):
        return False
    return not path.startswith((f"{base}/signin", f"{base}/static/", f"{base}/signout"))


def remember(request: web.Request, response: web.StreamResponse, base: str) -> None:
    """On the way to the sign-in page: keep the page a signed-out GET asked for."""
    path = request.rel_url.path_qs
    if request.method == "GET" and _kept(path, base):
        response.set_cookie(
            NEXT_COOKIE,
            path,
            max_age=NEXT_TTL_S,
            path=base,
            httponly=True,
            samesite="Lax",
            secure=request.secure,
        )


def destination(request: web.Request, response: web.StreamResponse, base: str, home: str) -> str:
    """Where a sign-in that just succeeded goes: the kept page, else `home`; the cookie is
    spent either way."""
    kept = request.cookies.get(NEXT_COOKIE, "")
    response.del_cookie(NEXT_COOKIE, path=base)
    return kept if _kept(kept, base) else home
