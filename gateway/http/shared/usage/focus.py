"""FOCUS 1.2 exports over HTTP: the account's own month (`statements:read`, as statements:
owners, admins and billing; a key with a billing scope) and the operator's, of every account
or one. CSV is streamed a page of the ledger at a time; Parquet is written whole.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from billing import authority
from billing.contracts.statements import InvalidMonth, Month, month_of, parse_month
from billing.usage.focus import Issuer, Row
from billing.usage.focus_columns import COLUMNS
from gateway.errors import InvalidRequest, MonthNotItemized
from gateway.http.appkeys import FOCUS, SETTINGS
from gateway.http.openapi.paths import focus as focus_doc
from gateway.http.principal import STATEMENTS_READ, require
from gateway.http.routing import Route, declare
from gateway.services.usage.focus.export import (
    CUSTOMER_COLUMNS,
    FORMATS,
    MEDIA_TYPES,
    csv_text,
    focus_pages,
    for_customer,
    parquet_bytes,
)
from gateway.services.usage.focus.parquet import ParquetUnavailable
from gateway.stores.errors import ArchiveGone


def _month(request: web.Request) -> Month:
    now = datetime.now(UTC)
    raw = request.query.get("month")
    if raw is None:
        return month_of(now)
    try:
        return parse_month(raw, now)
    except InvalidMonth as exc:
        raise InvalidRequest(str(exc), param="month") from exc


def _format(request: web.Request) -> str:
    fmt = request.query.get("format", "csv")
    if fmt not in FORMATS:
        raise InvalidRequest("'format' must be csv or parquet.", param="format")
    return fmt


async def respond(
    request: web.Request, account_id: str | None, customer: bool = False
) -> web.StreamResponse:
    """The month's FOCUS rows of one account (or every one) as a file; as the account reads
    them when `customer` (billing/audience.py)."""
    month, fmt = _month(request), _format(request)
    who = account_id or "all"
    name = f"meterway-focus-{who}-{month}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    pages = focus_pages(request.config_dict[FOCUS], account_id, month, Issuer())
    columns: tuple[str, ...] = COLUMNS
    if customer:
        pages, columns = for_customer(pages), CUSTOMER_COLUMNS
    try:
        if fmt == "parquet":
            body = await parquet_bytes(pages, columns)
            return web.Response(body=body, content_type=MEDIA_TYPES[fmt], headers=headers)
        first: list[Row] = await anext(pages, [])
    except ParquetUnavailable as exc:
        raise InvalidRequest(str(exc), param="format") from exc
    except ArchiveGone as exc:
        raise MonthNotItemized(
            f"{month} was archived and its table {exc.table} dropped: its entries cannot be"
            " listed one by one any more (its statement still adds up, by kind)."
        ) from exc
    response = web.StreamResponse(headers=headers)
    response.content_type = MEDIA_TYPES[fmt]
    await response.prepare(request)
    await response.write(csv_text(first, True, columns).encode())
    async for page in pages:
        await response.write(csv_text(page, False, columns).encode())
    await response.write_eof()
    return response


async def account_focus(request: web.Request) -> web.StreamResponse:
    shown = request.config_dict[SETTINGS].show_provider_cost  # SHOW_PROVIDER_COST=1
    return await respond(request, require(request, STATEMENTS_READ).account_id, not shown)


async def admin_focus(request: web.Request) -> web.StreamResponse:
    account_id = request.query.get("account_id") or None
    return await respond(request, account_id)


def add_account_routes(account: web.Application) -> None:
    declare(
        account.router,
        Route(
            "GET",
            "/exports/focus",
            account_focus,
            authority.STATEMENTS_READ,
            doc=focus_doc.ACCOUNT_FOCUS,
        ),
    )


def add_admin_routes(admin: web.Application) -> None:
    declare(
        admin.router,
        Route("GET", "/exports/focus", admin_focus, authority.OPERATOR, doc=focus_doc.ADMIN_FOCUS),
    )
