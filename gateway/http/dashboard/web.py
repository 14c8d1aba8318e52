"""How the dashboard answers: Jinja templates shipped as package data, autoescaped; strict
security headers on every page; failures rendered as a page (not JSON) with their status.

Templates and static files live in gateway/http/dashboard/assets/, installed with the
package, so `pip install` alone serves the dashboard; nothing is fetched from a CDN.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from aiohttp.typedefs import Handler

from billing.display import (
    meter_label,
    metric_label,
    quota_amount,
    quota_label,
    time_left,
    usage_label,
    usd,
    usd_cost,
    usd_exact,
    usd_input,
)
from gateway.errors import InvalidApiKey, MeterwayError, ServiceUnavailable
from gateway.http.headers import retry_headers
from gateway.stores.errors import StoreUnavailable

log = logging.getLogger("meterway.dashboard")
ASSETS = Path(__file__).parent / "assets"
TEMPLATES = web.AppKey("dashboard_templates", jinja2.Environment)
# Context every page gets (the session, its CSRF token), set by the session middleware.
CONTEXT = web.RequestKey("dashboard_context", dict)
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self' https:; frame-ancestors 'none'; base-uri 'none'"
)
DEFAULTS = {"nav": "", "session": None, "csrf": "", "notice": ""}
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def usd_or_unknown(micros: int | None) -> str:
    """A balance a page may not know: an account the ledger holds whose live record Redis
    lost (until `meterway rebuild` writes it back) reads "—", not a 500."""
    return "—" if micros is None else usd(micros)


def when(value: str | None) -> str:
    """An RFC 3339 instant as people read it, in UTC to the minute."""
    if not value:
        return "—"
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def until(value: str | None) -> str:
    """How long until an RFC 3339 instant, in words ("in 3 h 5 min")."""
    if not value:
        return ""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return time_left(int((moment - datetime.now(UTC)).total_seconds()))


def percent(used: int, limit: int) -> int:
    """Whole percent of a limit used, for a bar's width class; integers only."""
    return 100 if limit <= 0 else min(100, used * 100 // limit)


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(ASSETS / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(usd_cost=usd_cost, usd_input=usd_input, usd_exact=usd_exact)
    env.filters["usd"] = usd_or_unknown
    env.filters.update(when=when, until=until)
    env.filters.update(percent=percent, quota=quota_label, quota_amount=quota_amount)
    env.filters.update(metric=metric_label, meter=meter_label, usage_label=usage_label)
    return env


def render(
    request: web.Request, template: str, *, status: int = 200, **context: Any
) -> web.Response:
    page = request.app[TEMPLATES].get_template(template)
    text = page.render({**DEFAULTS, **request.get(CONTEXT, {}), **context})
    return web.Response(
        text=text, status=status, content_type="text/html", headers={"Cache-Control": "no-store"}
    )


def _error_page(request: web.Request, error: MeterwayError) -> web.Response:
    signin = isinstance(error, InvalidApiKey)
    page = render(
        request, "error.html", status=error.status, error=error, signin=signin, title="Error"
    )
    page.headers.update(retry_headers(error.retry_after_s, None))  # a 429's Retry-After
    return page


@web.middleware
async def page_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Security headers on every answer; errors as pages (the API's JSON is for scripts)."""
    try:
        response = await handler(request)
    except MeterwayError as exc:
        response = _error_page(request, exc)
    except StoreUnavailable as exc:
        log.error("store unavailable on %s %s: %s", request.method, request.path, exc)
        response = _error_page(request, ServiceUnavailable("A backing store is unavailable."))
    except web.HTTPException as exc:
        exc.headers.update(HEADERS)
        raise
    response.headers.update(HEADERS)
    return response
