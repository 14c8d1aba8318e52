"""Monthly statements over HTTP: the account's own (`statements:read`: owners, admins and
billing; a key with a billing scope) and any account's for the operator, as JSON or CSV.

CSV when `format=csv`, or with no `format` when the Accept header asks for text/csv; JSON
otherwise. Both carry the same figures (billing/contracts/statements.py's `csv_rows`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from billing import authority
from billing.contracts.statements import (
    CSV_HEADER,
    SECTIONS,
    USAGE_VIEWS,
    InvalidMonth,
    Line,
    Month,
    Section,
    Statement,
    csv_rows,
    parse_month,
)
from billing.csv_cells import csv_text
from gateway.errors import InvalidRequest, NotFound, StatementUnbalanced
from gateway.http.appkeys import STATEMENTS, STORES
from gateway.http.openapi.paths import statements as statements_doc
from gateway.http.principal import STATEMENTS_READ, require
from gateway.http.routing import Route, declare
from gateway.services.contracts.statements import monthly_statement
from gateway.stores.ports.proof.ledger_proof import SealedCheckpoint

log = logging.getLogger(__name__)


def _line(line: Line) -> dict[str, Any]:
    return {
        "key": line.key,
        "label": line.label,
        "entries": line.entries,
        "requests": line.requests,
        "amount_micros": line.amount_micros,
    }


def _section(section: Section) -> dict[str, Any]:
    return {
        "total_micros": section.total_micros,
        "entries": section.entries,
        "lines": [_line(x) for x in section.lines],
    }


def statement_json(s: Statement, sealed: SealedCheckpoint | None = None) -> dict[str, Any]:
    """A statement for programs: amounts in micros with the ledger's signs, and the newest
    ledger checkpoint when it was issued (every entry up to its id is sealed under it)."""
    sections = {n: _section(s.sections[n]) for n in SECTIONS if n != "usage"}
    usage = {
        "total_micros": s.sections["usage"].total_micros,
        "entries": s.sections["usage"].entries,
        "requests": sum(x.requests for x in s.sections["usage"].lines),
        **{v: [_line(x) for x in s.usage_views[v].lines] for v in USAGE_VIEWS},
    }
    return {
        "object": "statement",
        "account_id": s.account_id,
        "month": str(s.month),
        "from": s.month.start.isoformat(),
        "to": s.month.end.isoformat(),
        "currency": "usd",
        "opening_balance_micros": s.opening_micros,
        "closing_balance_micros": s.closing_micros,
        "usage": usage,
        **sections,
        "reconciled": s.reconciles,
        "final": s.final,
        "complete": s.complete,
        "missing_archives": list(s.missing),
        "ledger_checkpoint": None if sealed is None else checkpoint_json(sealed),
    }


def checkpoint_json(sealed: SealedCheckpoint) -> dict[str, Any]:
    """A checkpoint as a statement or receipt names it (docs/guides/ledger.md)."""
    return {
        "seq": sealed.checkpoint.seq,
        "head": sealed.head,
        "sealed_through_id": sealed.checkpoint.last_id,
        "sealed_at": sealed.sealed_at.isoformat(),
    }


async def newest_checkpoint(request: web.Request) -> SealedCheckpoint | None:
    return await request.config_dict[STORES].ledger_proof().last()


def statement_csv(s: Statement) -> str:
    return csv_text(CSV_HEADER, csv_rows(s))


def wants_csv(request: web.Request) -> bool:
    fmt = request.query.get("format")
    if fmt not in (None, "json", "csv"):
        raise InvalidRequest("'format' must be json or csv.", param="format")
    if fmt is not None:
        return fmt == "csv"
    return "text/csv" in request.headers.get("Accept", "")


def month_param(request: web.Request, now: datetime) -> Month:
    try:
        return parse_month(request.match_info["month"], now)
    except InvalidMonth as exc:
        raise InvalidRequest(str(exc), param="month") from exc


async def statement_of(request: web.Request, account_id: str, month: Month) -> Statement:
    """The account's statement of `month`, refused (500) rather than shown if it does not
    add up."""
    now = datetime.now(UTC)
    s = await monthly_statement(request.config_dict[STATEMENTS], account_id, month, now)
    if s is None:
        raise NotFound("No such account.")
    if not s.reconciles:
        log.error("statement of %s for %s does not reconcile", account_id, month)
        raise StatementUnbalanced(f"The statement of {month} does not add up; nothing is shown.")
    return s


VIEW_TITLES = {"by_model": "By model", "by_team": "By team", "by_kind": "By kind of usage"}


async def respond(request: web.Request, account_id: str, *, as_csv: bool = False) -> web.Response:
    """The statement of the month in the path, as CSV (asked for, or `as_csv`) or JSON."""
    s = await statement_of(request, account_id, month_param(request, datetime.now(UTC)))
    if as_csv or wants_csv(request):
        name = f"meterway-statement-{s.account_id}-{s.month}.csv"
        return web.Response(
            text=statement_csv(s),
            content_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return web.json_response(statement_json(s, await newest_checkpoint(request)))


async def account_statement(request: web.Request) -> web.Response:
    return await respond(request, require(request, STATEMENTS_READ).account_id)


async def admin_statement(request: web.Request) -> web.Response:
    return await respond(request, request.match_info["account_id"])


def add_admin_routes(admin: web.Application) -> None:
    declare(
        admin.router,
        Route(
            "GET",
            "/accounts/{account_id}/statements/{month}",
            admin_statement,
            authority.OPERATOR,
            doc=statements_doc.ADMIN_STATEMENT,
        ),
    )


def add_account_routes(account: web.Application) -> None:
    declare(
        account.router,
        Route(
            "GET",
            "/statements/{month}",
            account_statement,
            authority.STATEMENTS_READ,
            doc=statements_doc.ACCOUNT_STATEMENT,
        ),
    )
