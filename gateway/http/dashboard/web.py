"""How the dashboard answers: Jinja templates shipped as package data, autoescaped; strict
security headers on every page; failures rendered as a page (not JSON) with their status.

Templates and static files live in gateway/http/dashboard/assets/, installed with the
package, so `pip install` alone serves the dashboard; nothing is fetched from a CDN.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from aiohttp.typedefs import Handler

from billing.money.display import (
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
    usd_line,
)
from billing.money.receipts import refund_standing
from gateway.errors import (
    InternalError,
    InvalidApiKey,
    MeterwayError,
    MethodNotAllowed,
    NotFound,
    ServiceUnavailable,
)
from gateway.http.dashboard import error_page
from gateway.http.headers import retry_headers
from gateway.http.page_headers import PAGE_HEADERS
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
HEADERS = {"Content-Security-Policy": CSP, **PAGE_HEADERS}


def usd_or_unknown(micros: int | None) -> str:
    """A balance a page may not know: an account the ledger holds whose live record Redis
    lost (until `meterway rebuild` writes it back) reads "—", not a 500."""
    return "—" if micros is None else usd(micros)


def instant(value: str | datetime) -> datetime:
    """An RFC 3339 string (the APIs' JSON) or a datetime (a store's row), as an aware UTC
    instant: pages get both, and a naive datetime from PostgreSQL is UTC."""
    if isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def when(value: str | datetime | date | None) -> str:
    """An instant as people read it, in UTC to the minute; a date as itself."""
    if not value:
        return "—"
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    return instant(value).strftime("%Y-%m-%d %H:%M UTC")


def until(value: str | datetime | None) -> str:
    """How long until an instant, in words ("in 3 h 5 min")."""
    if not value:
        return ""
    moment = instant(value)
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
    env.filters.update(
        usd_cost=usd_cost, usd_input=usd_input, usd_exact=usd_exact, usd_line=usd_line
    )
    env.filters["usd"] = usd_or_unknown
    env.filters.update(when=when, until=until, refund_standing=refund_standing)
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
    session = request.get(CONTEXT, {}).get("session")
    who = getattr(session, "principal", None)
    role, kind = (who.role, who.kind) if who is not None else ("", "")
    said = error_page.words(error, role, kind)
    page = render(
        request, "error.html", status=error.status, said=said, signin=signin, title=said.title
    )
    page.headers.update(retry_headers(error.retry_after_s, None))  # a 429's Retry-After
    return page


def _translate(exc: web.HTTPException) -> MeterwayError:
    """aiohttp's own refusals (no such route, wrong method) as the dashboard's errors."""
    if exc.status == 404:
        return NotFound("There is no such page.")
    if exc.status == 405:
        return MethodNotAllowed("This page does not take that kind of request.")
    return InternalError(exc.reason)


async def not_found(request: web.Request) -> web.Response:
    """Every /dashboard path no route holds: a page, not the gateway's JSON 404."""
    raise NotFound("There is no such page.")


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
        if exc.status < 400:
            exc.headers.update(HEADERS)
            raise
        response = _error_page(request, _translate(exc))
    except Exception:
        log.exception("unhandled error on dashboard %s %s", request.method, request.path)
        response = _error_page(request, InternalError("The dashboard failed."))
    response.headers.update(HEADERS)
    return response
