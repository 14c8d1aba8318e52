"""Money an operator moves by hand: credits and adjustments, for the admin API and the
dashboard's Operators pages alike.

Each is posted once per idempotency key; a key reused for another amount is a 409 naming
both amounts (as a metered settle names both quantities), so a client that mixed up its keys
learns which request it collided with.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from billing.display import usd_exact as _usd
from billing.money import MAX_EXACT
from billing.payments import PaymentRuleError
from gateway.appkeys import LEDGER, PAYMENTS, SETTINGS, STORE
from gateway.errors import Conflict, InvalidRequest, NotFound, PaymentProviderError
from gateway.http import bodies
from gateway.http.credit_grants import live_grant
from gateway.llm.calls import parse_json
from gateway.services.credits import Posted, post_adjustment, post_credit
from gateway.services.payments_port import ProviderUnavailable
from gateway.services.refunds import refund_topup
from gateway.stores.errors import BalanceTooLow, DuplicateCredit
from gateway.stores.records import GrantSpec


def _conflict(exc: DuplicateCredit, amount: int, what: str) -> Conflict:
    return Conflict(
        f"This idempotency_key was already used for a {what} of {_usd(exc.first_micros)}"
        f" ({exc.first_micros} micros); this request asks for {_usd(amount)} ({amount} micros).",
        param="idempotency_key",
    )


def _answer(account_id: str, amount: int, posted: Posted) -> dict[str, Any]:
    return {
        "entry_id": posted.entry_id,
        "account_id": account_id,
        "amount_micros": amount,
        "balance_micros": posted.balance_micros,
        "idempotent_replay": not posted.created,
    }


async def credit_account(
    request: web.Request,
    account_id: str,
    amount: object,
    idem: str,
    reason: str | None,
    grant: GrantSpec | None = None,
) -> tuple[dict[str, Any], bool]:
    """Credit once per idempotency key (the API and the dashboard); the answer and whether
    this call created the credit. The credit funds `grant` (a paid one by default)."""
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_EXACT:
        raise InvalidRequest("'amount_micros' must be a positive integer.", param="amount_micros")
    app = request.config_dict
    try:
        posted = await post_credit(
            app[LEDGER],
            app[STORE],
            account_id,
            amount,
            idem,
            reason or "operator credit",
            grant=await live_grant(app[STORE], grant),
        )
    except DuplicateCredit as exc:
        raise _conflict(exc, amount, "credit") from exc
    return _answer(account_id, amount, posted), posted.created


async def adjust_account(
    request: web.Request, account_id: str, amount: object, idem: str, reason: str
) -> tuple[dict[str, Any], bool]:
    """A signed correction with its reason, once per idempotency key; money out may take
    at most what the account has (services/credits.py says why)."""
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < abs(amount) <= MAX_EXACT:
        raise InvalidRequest(
            "'amount_micros' must be a non-zero integer (negative takes money out).",
            param="amount_micros",
        )
    if not reason.strip():
        raise InvalidRequest("An adjustment needs a 'reason'.", param="reason")
    app = request.config_dict
    try:
        posted = await post_adjustment(
            app[LEDGER], app[STORE], account_id, amount, idem, reason.strip()
        )
    except DuplicateCredit as exc:
        raise _conflict(exc, amount, "adjustment") from exc
    except BalanceTooLow as exc:
        raise InvalidRequest(
            f"The account has {_usd(exc.most_micros)} that can be taken; an adjustment of"
            f" {_usd(amount)} would make it owe money.",
            param="amount_micros",
        ) from exc
    return _answer(account_id, amount, posted), posted.created


async def refund_account(
    request: web.Request, account_id: str, payment_id: str, amount: object, idem: str
) -> tuple[dict[str, Any], bool]:
    """Refund (part of) one of the account's top-ups through its provider, once per key."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidRequest("'amount_micros' must be a positive integer.", param="amount_micros")
    payments = request.config_dict.get(PAYMENTS)
    if payments is None:
        raise NotFound("Payments are not available on this gateway.")
    try:
        done = await refund_topup(payments, account_id, payment_id, amount, idem)
    except LookupError as exc:
        raise NotFound("No such payment of this account.") from exc
    except PaymentRuleError as exc:
        raise InvalidRequest(str(exc), param="amount_micros") from exc
    except DuplicateCredit as exc:
        raise _conflict(exc, -amount, "refund") from exc
    except ProviderUnavailable as exc:
        raise PaymentProviderError(
            "The payment provider did not refund it; nothing was booked.", retry_after_s=5
        ) from exc
    answer = {"id": done.id, "payment_id": payment_id, "amount_micros": amount}
    return answer | {"idempotent_replay": not done.created}, done.created


async def add_refund(request: web.Request) -> web.Response:
    account_id = await _account_id(request)
    payment_id = bodies.path_id(request, "payment_id")
    body = parse_json(await request.read())
    idem = str(bodies.text_field(body, "idempotency_key"))
    answer, created = await refund_account(
        request, account_id, payment_id, body.get("amount_micros"), idem
    )
    return web.json_response(answer, status=201 if created else 200)


async def _account_id(request: web.Request) -> str:
    account_id = bodies.path_id(request, "account_id")
    if await request.config_dict[LEDGER].get_account(account_id) is None:
        raise NotFound("No such account.")
    return account_id


async def add_credit(request: web.Request) -> web.Response:
    account_id = await _account_id(request)
    body = parse_json(await request.read())
    idem = str(bodies.text_field(body, "idempotency_key"))
    reason = bodies.text_field(body, "reason", required=False)
    grant = bodies.grant_field(body, request.config_dict[SETTINGS].timezone)
    answer, created = await credit_account(
        request, account_id, body.get("amount_micros"), idem, reason, grant
    )
    return web.json_response(answer, status=201 if created else 200)


async def add_adjustment(request: web.Request) -> web.Response:
    account_id = await _account_id(request)
    body = parse_json(await request.read())
    idem = str(bodies.text_field(body, "idempotency_key"))
    reason = str(bodies.text_field(body, "reason"))
    answer, created = await adjust_account(
        request, account_id, body.get("amount_micros"), idem, reason
    )
    return web.json_response(answer, status=201 if created else 200)


def add_routes(admin: web.Application) -> None:
    admin.router.add_post("/accounts/{account_id}/credits", add_credit)
    admin.router.add_post("/accounts/{account_id}/adjustments", add_adjustment)
    admin.router.add_post("/accounts/{account_id}/payments/{payment_id}/refunds", add_refund)
