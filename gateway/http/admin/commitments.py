"""The operator's commitments: `PUT/GET/DELETE /admin/v1/accounts/{id}/commitment`.

Terms are set in PostgreSQL, then the open period in the account's Redis hash, so the next
call is drawn down at once (services/commitments.py); every change is audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from billing import authority
from billing.commitments import (
    TERM_FIELDS,
    ArrearsNeedPostpaid,
    CommitmentInvalid,
    allowance,
    checked_terms,
)
from gateway.errors import Conflict, InvalidRequest, NotFound
from gateway.http import audited
from gateway.http.appkeys import LEDGER, STORE, STORES
from gateway.http.openapi import commitments as doc
from gateway.http.routing import Route, audits, declare
from gateway.llm.calls import parse_json
from gateway.services import commitments as service
from gateway.stores.ports.commitments import tranches_of
from gateway.stores.records import Row


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def period_json(row: Row, hot: dict[str, str] | None = None) -> dict[str, Any]:
    """A period; the open one with what it drew and holds now (`hot`: the account's fields)."""
    rolled = sum(t.remaining_micros for t in tranches_of(row.get("rolled_in")))
    out: dict[str, Any] = {
        "starts_at": _iso(row["starts_at"]),
        "ends_at": _iso(row["ends_at"]),
        "committed_micros": row["committed_micros"],
        "rolled_in_micros": rolled,
        "allowance_micros": allowance(row["committed_micros"], tranches_of(row.get("rolled_in"))),
        "drawn_micros": row.get("drawn_micros"),
        "charged_micros": row.get("charged_micros"),
        "rolled_out_micros": row.get("rolled_out_micros"),
        "expired_micros": row.get("expired_micros"),
        "closed_at": _iso(row.get("closed_at")),
    }
    ends_ms = str(int(row["ends_at"].timestamp() * 1000))
    if hot is not None and hot.get("cme") == ends_ms:
        out["drawn_micros"] = int(hot.get("cmu", "0"))
        out["held_micros"] = int(hot.get("cmh", "0"))
        out["allowance_micros"] = int(hot.get("cma", "0"))
    return out


def commitment_json(row: Row, period: Row | None, hot: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"object": "commitment", "account_id": row["account_id"], "active": True}
    out.update({name: row[name] for name in TERM_FIELDS})
    out["ends_at"] = _iso(row.get("ends_at"))
    out["current_period"] = None if period is None else period_json(period, hot)
    return out


# What an account without a commitment shows (GET, and a DELETE that had nothing to end).
NONE: dict[str, Any] = {
    "object": "commitment",
    "active": False,
    "ends_at": None,
    "current_period": None,
    "periods": [],
}


def _ports(request: web.Request) -> service.CommitmentPorts:
    app = request.config_dict
    return service.CommitmentPorts(app[LEDGER], app[STORES].commitments(), app[STORE])


async def _account(request: web.Request) -> str:
    account_id = request.match_info["account_id"]
    if await request.config_dict[LEDGER].get_account(account_id) is None:
        raise NotFound("No such account.")
    return account_id


async def _shown(request: web.Request, account_id: str) -> dict[str, Any]:
    ports = _ports(request)
    found = await ports.commitments.get(account_id)
    if found is None:
        return dict(NONE, account_id=account_id)
    row, period = found
    out = commitment_json(row, period, await ports.store.commitments.fields(account_id))
    past = await ports.commitments.periods(row["id"])
    out["periods"] = [period_json(p) for p in past]
    return out


async def put_commitment(request: web.Request) -> web.Response:
    """New terms: a new commitment opens the period holding now (prepaid: credited now)."""
    account_id = await _account(request)
    body = parse_json(await request.read())
    try:
        terms = checked_terms(body)
        before = await _ports(request).commitments.get(account_id)
        now_ms = await request.config_dict[STORE].now_ms()  # the clock reserve.lua reads
        await service.set_commitment(_ports(request), account_id, terms, now_ms)
    except CommitmentInvalid as exc:
        raise InvalidRequest(exc.message, param=exc.field) from exc
    except ArrearsNeedPostpaid as exc:
        raise Conflict(str(exc), param="billing") from exc
    was = None if before is None else {name: before[0][name] for name in TERM_FIELDS}
    await audited.record(
        request, "commitment.set", "commitment", account_id, account_id, was or {}, terms.json()
    )
    return web.json_response(await _shown(request, account_id))


async def get_commitment(request: web.Request) -> web.Response:
    return web.json_response(await _shown(request, await _account(request)))


async def end_commitment(request: web.Request) -> web.Response:
    """The commitment ends with its open period; that period still closes as agreed. With
    none, nothing changes (answered as GET answers)."""
    account_id = await _account(request)
    row = await service.stop_commitment(_ports(request), account_id)
    if row is None:
        return web.json_response(dict(NONE, account_id=account_id))
    await audited.record(
        request, "commitment.end", "commitment", account_id, account_id,
        {"ends_at": None}, {"ends_at": _iso(row["ends_at"])},
    )  # fmt: skip
    return web.json_response(await _shown(request, account_id))


def add_routes(admin: web.Application) -> None:
    path = "/accounts/{account_id}/commitment"
    declare(
        admin.router,
        Route(
            "PUT", path, put_commitment, authority.OPERATOR, audits("commitment.set"),
            doc=doc.PUT_COMMITMENT,
        ),
        Route("GET", path, get_commitment, authority.OPERATOR, doc=doc.GET_COMMITMENT),
        Route(
            "DELETE", path, end_commitment, authority.OPERATOR, audits("commitment.end"),
            doc=doc.END_COMMITMENT,
        ),
    )  # fmt: skip
