"""A price change as the operator API and the operator's Prices page show and decide it: one
JSON shape, one approval and one rejection (services/proof/price_changes.py decides: a second
approver, the named move, the lead), each recorded in the audit log as `price_change.VERB`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from billing.pricing.changes import percent
from gateway.errors import InvalidRequest, NotFound
from gateway.http import audited
from gateway.http.appkeys import PRICE_DESK
from gateway.http.audited import actor_of
from gateway.stores.records import Row


def change_json(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "status": row["status"],
        "models": row["document"].get("models", {}),
        "markup": row["document"].get("markup"),  # an account's markup change
        "plan_markup": row["document"].get("plan_markup"),  # a plan's markup change
        **{k: row["document"][k] for k in ("books", "assign") if k in row["document"]},
        "effective_at": row["effective_at"].isoformat(),
        "note": row["note"],
        "diff": row["diff"],
        "preview": row["preview"],
        "largest_move_percent": percent(row["largest_move_permille"]),
        "proposed_by": row["proposed_by"],
        "proposed_at": row["proposed_at"].isoformat(),
        "decided_by": row["decided_by"],
        "decided_at": row["decided_at"] and row["decided_at"].isoformat(),
    }


def change_id_of(request: web.Request) -> int:
    raw = request.match_info["change_id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise NotFound("No such price change.")
    return int(raw)


async def audited_change(request: web.Request, verb: str, row: Row) -> dict[str, Any]:
    """The change as the API shows it, recorded in the audit log as `price_change.VERB`."""
    out = change_json(row)
    before = None if verb == "propose" else {"status": "pending"}
    action = f"price_change.{verb}"
    await audited.record(request, action, "price_change", str(row["id"]), None, before, out)
    return out


async def approved(
    request: web.Request, change_id: int, confirm: object, by: str | None = None
) -> dict[str, Any]:
    """Approve by the request's operator (`by`: who they are to the second-approver rule,
    where the audit log names them otherwise), `confirm` naming the move where it must."""
    if confirm is not None and not isinstance(confirm, str):
        raise InvalidRequest("'confirm' names the move, e.g. \"12.5%\".", param="confirm")
    who = by or actor_of(request).id
    row = await request.config_dict[PRICE_DESK].approve(change_id, who, confirm)
    return await audited_change(request, "approve", row)


async def rejected(request: web.Request, change_id: int, by: str | None = None) -> dict[str, Any]:
    row = await request.config_dict[PRICE_DESK].reject(change_id, by or actor_of(request).id)
    return await audited_change(request, "reject", row)
