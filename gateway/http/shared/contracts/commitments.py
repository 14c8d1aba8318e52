"""An account's commitment as the operator API, the account API and the dashboard show it:
its terms, the open period with what it drew and holds now (the account's Redis fields),
and its past periods (services/contracts/commitments.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from billing.contracts.commitments import TERM_FIELDS, allowance
from gateway.http.appkeys import LEDGER, STORE, STORES
from gateway.services.contracts import commitments as service
from gateway.stores.ports.contracts.commitments import tranches_of
from gateway.stores.records import Row


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def period_json(row: Row, hot: dict[str, str] | None = None) -> dict[str, Any]:
    """A period; the open one with what it drew, holds and has left now (`hot`: the account's
    fields; without them, or with another period's, those are not shown)."""
    rolled = sum(t.remaining_micros for t in tranches_of(row.get("rolled_in")))
    out: dict[str, Any] = {
        "starts_at": iso(row["starts_at"]),
        "ends_at": iso(row["ends_at"]),
        "committed_micros": row["committed_micros"],
        "rolled_in_micros": rolled,
        "allowance_micros": allowance(row["committed_micros"], tranches_of(row.get("rolled_in"))),
        "drawn_micros": row.get("drawn_micros"),
        "charged_micros": row.get("charged_micros"),
        "rolled_out_micros": row.get("rolled_out_micros"),
        "expired_micros": row.get("expired_micros"),
        "closed_at": iso(row.get("closed_at")),
    }
    ends_ms = str(int(row["ends_at"].timestamp() * 1000))
    if hot is not None and hot.get("cme") == ends_ms:
        out["drawn_micros"] = int(hot.get("cmu", "0"))
        out["held_micros"] = int(hot.get("cmh", "0"))
        out["allowance_micros"] = int(hot.get("cma", "0"))
        # What a call may still draw at the commitment's price: no more than is not held.
        left = out["allowance_micros"] - out["drawn_micros"] - out["held_micros"]
        out["left_micros"] = max(left, 0)
    return out


def commitment_json(row: Row, period: Row | None, hot: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"object": "commitment", "account_id": row["account_id"], "active": True}
    out.update({name: row[name] for name in TERM_FIELDS})
    out["ends_at"] = iso(row.get("ends_at"))
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


def commitment_ports(request: web.Request) -> service.CommitmentPorts:
    app = request.config_dict
    return service.CommitmentPorts(app[LEDGER], app[STORES].commitments(), app[STORE])


async def shown(request: web.Request, account_id: str) -> dict[str, Any]:
    ports = commitment_ports(request)
    found = await ports.commitments.get(account_id)
    if found is None:
        return dict(NONE, account_id=account_id)
    row, period = found
    out = commitment_json(row, period, await ports.store.commitments.fields(account_id))
    past = await ports.commitments.periods(row["id"])
    out["periods"] = [period_json(p) for p in past]
    return out
