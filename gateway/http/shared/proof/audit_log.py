"""Reading the audit log: an organization's owner reads its own records
(GET /v1/account/audit, the `audit:read` scope, which only the owner role holds and no API
key is given), the operator reads every account's (GET /admin/v1/audit, `account_id` to
filter). Filters: `action`, `kind` (a kind of action: billing/proof/audit_words.py KINDS), `actor`
(a member's e-mail or an actor's id), `target_kind`, `target_id`, `since` and `until` (RFC
3339 or a day); each record carries its `sentence` (billing/proof/audit_words.py); pages newest
first with `limit` and `before` (the `next_before` of the last page).
`format=csv` or `format=jsonl` exports every matching record (at most EXPORT_MAX), as the
usage report exports its rows.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from aiohttp import web

from billing import authority
from billing.contracts.reseller import for_customer
from billing.csv_cells import csv_text
from billing.proof.audit_words import KINDS, ids_named, sentence
from billing.roles import AUDIT_READ
from gateway.errors import InvalidRequest, PermissionDenied
from gateway.http.appkeys import AUDIT
from gateway.http.fields import MAX_AUDIT_PAGE
from gateway.http.openapi.paths import audit as audit_doc
from gateway.http.principal import Principal, principal
from gateway.http.routing import Route, declare
from gateway.http.shared.overview import show_cost
from gateway.http.shared.usage.reports import query_text
from gateway.stores.audit_records import AuditQuery
from gateway.stores.records import Row

MAX_PAGE = MAX_AUDIT_PAGE
EXPORT_MAX = 100_000
FIELDS = (
    "id", "occurred_at", "account_id", "actor_kind", "actor_id", "actor_via", "action",
    "target_kind", "target_id", "before", "after", "request_id", "client_address",
)  # fmt: skip


def audit_json(row: Row) -> dict[str, Any]:
    return {"object": "audit_record", **{f: row[f] for f in FIELDS}} | {
        "occurred_at": row["occurred_at"].isoformat()
    }


def _instant(request: web.Request, name: str) -> datetime | None:
    raw = query_text(request, name)
    if not raw:
        return None
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidRequest(f"'{name}' must be an RFC 3339 time or a day.", param=name) from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _whole(request: web.Request, name: str, default: int | None) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18 or int(raw) < 1:
        raise InvalidRequest(f"'{name}' must be a positive whole number.", param=name)
    return int(raw)


def _heads(request: web.Request) -> tuple[str, ...]:
    kind = query_text(request, "kind")
    if not kind:
        return ()
    if kind not in KINDS:
        raise InvalidRequest(f"'kind' must be one of {', '.join(KINDS)}.", param="kind")
    return KINDS[kind][1]


def audit_query(request: web.Request, account_id: str | None) -> AuditQuery:
    """The filters and page the query names, kept to `account_id` when given."""
    limit = min(_whole(request, "limit", 50) or 50, MAX_PAGE)
    return AuditQuery(
        account_id=account_id,
        action=query_text(request, "action") or None,
        target_kind=query_text(request, "target_kind") or None,
        target_id=query_text(request, "target_id") or None,
        since=_instant(request, "since"),
        until=_instant(request, "until"),
        before_id=_whole(request, "before", None),
        limit=limit,
        actor=query_text(request, "actor") or None,
        heads=_heads(request),
    )


def _records(request: web.Request, rows: list[Row], customer: bool) -> list[dict[str, Any]]:
    """The rows as records; as the account reads them when `customer`: an operator's
    change to its markup shows no figure (billing/audience.py)."""
    records = [audit_json(r) for r in rows]
    return for_customer(records, show_cost(request)) if customer else records


async def audit_page(
    request: web.Request, query: AuditQuery, customer: bool = False
) -> dict[str, Any]:
    """One page of records, newest first, and where the next begins."""
    rows = await request.config_dict[AUDIT].page(_more(query, query.limit + 1))
    page = rows[: query.limit]
    more = len(rows) > query.limit
    return {
        "object": "list",
        "data": await said(request, _records(request, page, customer)),
        "has_more": more,
        "next_before": page[-1]["id"] if more else None,
    }


async def said(request: web.Request, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each record with its sentence, the names it uses looked up once for the page."""
    names = await request.config_dict[AUDIT].names(sorted(ids_named(records)))
    return [r | {"sentence": sentence(r, names)} for r in records]


def _more(query: AuditQuery, limit: int, before: int | None = None) -> AuditQuery:
    before = query.before_id if before is None else before
    return replace(query, before_id=before, limit=limit)


async def every_record(
    request: web.Request, query: AuditQuery, customer: bool = False
) -> list[dict[str, Any]]:
    """Every record the filters keep, newest first, at most EXPORT_MAX."""
    out: list[dict[str, Any]] = []
    before = query.before_id
    while len(out) < EXPORT_MAX:
        rows = await request.config_dict[AUDIT].page(_more(query, MAX_PAGE, before))
        out += _records(request, rows, customer)
        if len(rows) < MAX_PAGE:
            break
        before = rows[-1]["id"]
    return out[:EXPORT_MAX]


def export_body(records: list[dict[str, Any]], fmt: str) -> str:
    """Records as JSON lines or CSV (before and after as JSON text in their cells)."""
    if fmt == "jsonl":
        return "".join(json.dumps(r, sort_keys=True, default=str) + "\n" for r in records)
    rows = ([r[f] for f in FIELDS] for r in records)
    return csv_text(FIELDS, [[json.dumps(c) if isinstance(c, dict | list) else c for c in row]
                             for row in rows])  # fmt: skip


async def respond(
    request: web.Request, account_id: str | None, customer: bool = False
) -> web.Response:
    query = audit_query(request, account_id)
    fmt = request.query.get("format", "json")
    if fmt == "json":
        return web.json_response(await audit_page(request, query, customer))
    if fmt not in ("csv", "jsonl"):
        raise InvalidRequest("'format' must be json, csv or jsonl.", param="format")
    body = export_body(await every_record(request, query, customer), fmt)
    kind = "text/csv" if fmt == "csv" else "application/x-ndjson"
    response = web.Response(text=body, content_type=kind)
    response.headers["Content-Disposition"] = f'attachment; filename="meterway-audit.{fmt}"'
    return response


def owner_account(who: Principal) -> str:
    """The caller's account, for its owner: `audit:read` held by a person, never a key."""
    who.require(AUDIT_READ)
    if who.key is not None:
        raise PermissionDenied(f"An API key never reads the audit log ('{AUDIT_READ}').")
    return who.account_id


async def account_audit(request: web.Request) -> web.Response:
    return await respond(request, owner_account(principal(request)), customer=True)


async def admin_audit(request: web.Request) -> web.Response:
    return await respond(request, query_text(request, "account_id") or None)


def add_account_routes(account: web.Application) -> None:
    declare(
        account.router,
        Route("GET", "/audit", account_audit, authority.AUDIT_READ, doc=audit_doc.ACCOUNT_AUDIT),
    )


def add_admin_routes(admin: web.Application) -> None:
    declare(
        admin.router,
        Route("GET", "/audit", admin_audit, authority.OPERATOR, doc=audit_doc.ADMIN_AUDIT),
    )
