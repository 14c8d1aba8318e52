"""The operator's commitments: `PUT/GET/DELETE /admin/v1/accounts/{id}/commitment`.

Terms are set in PostgreSQL, then the open period in the account's Redis hash, so the next
call is drawn down at once (services/contracts/commitments.py); every change is audited."""

from __future__ import annotations

from aiohttp import web

from billing import authority
from billing.contracts.commitments import (
    TERM_FIELDS,
    ArrearsNeedPostpaid,
    CommitmentInvalid,
    checked_terms,
)
from gateway.errors import Conflict, InvalidRequest, NotFound
from gateway.http import audited
from gateway.http.appkeys import LEDGER, STORE
from gateway.http.openapi.paths import commitments as doc
from gateway.http.routing import Route, audits, declare
from gateway.http.shared.contracts.commitments import NONE, commitment_ports, iso, shown
from gateway.llm.reading.calls import parse_json
from gateway.services.contracts import commitments as service


async def _account(request: web.Request) -> str:
    account_id = request.match_info["account_id"]
    if await request.config_dict[LEDGER].get_account(account_id) is None:
        raise NotFound("No such account.")
    return account_id


async def put_commitment(request: web.Request) -> web.Response:
    """New terms: a new commitment opens the period holding now (prepaid: credited now)."""
    account_id = await _account(request)
    body = parse_json(await request.read())
    try:
        terms = checked_terms(body)
        before = await commitment_ports(request).commitments.get(account_id)
        now_ms = await request.config_dict[STORE].now_ms()  # the clock reserve.lua reads
        await service.set_commitment(commitment_ports(request), account_id, terms, now_ms)
    except CommitmentInvalid as exc:
        raise InvalidRequest(exc.message, param=exc.field) from exc
    except ArrearsNeedPostpaid as exc:
        raise Conflict(str(exc), param="billing") from exc
    was = None if before is None else {name: before[0][name] for name in TERM_FIELDS}
    await audited.record(
        request, "commitment.set", "commitment", account_id, account_id, was or {}, terms.json()
    )
    return web.json_response(await shown(request, account_id))


async def get_commitment(request: web.Request) -> web.Response:
    return web.json_response(await shown(request, await _account(request)))


async def end_commitment(request: web.Request) -> web.Response:
    """The commitment ends with its open period; that period still closes as agreed. With
    none, nothing changes (answered as GET answers)."""
    account_id = await _account(request)
    row = await service.stop_commitment(commitment_ports(request), account_id)
    if row is None:
        return web.json_response(dict(NONE, account_id=account_id))
    await audited.record(
        request, "commitment.end", "commitment", account_id, account_id,
        {"ends_at": None}, {"ends_at": iso(row["ends_at"])},
    )  # fmt: skip
    return web.json_response(await shown(request, account_id))


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
