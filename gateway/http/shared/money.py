"""Money an operator moves by hand: credits and adjustments, for the admin API and the
dashboard's Operators pages alike.

Each is posted once per idempotency key (services/metering/idempotency.py): a key reused for another
operation or body is a 409 naming the key and its first use (a credit's amount and account),
so a client that mixed up its keys learns which request it collided with.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from billing import authority
from billing.contracts.commitments import ENTRY_KEY_PREFIX as COMMITMENT_KEYS
from billing.money.display import usd_exact as _usd
from billing.money.micros import MAX_EXACT
from billing.money.payments import PaymentRuleError
from gateway.errors import Conflict, InvalidRequest, NotFound, PaymentProviderError
from gateway.http import audited, bodies
from gateway.http.appkeys import IDEMPOTENCY, LEDGER, PAYMENTS, SETTINGS, STORE
from gateway.http.openapi.paths import operator as ops_doc
from gateway.http.routing import Route, audits, declare
from gateway.http.shared.credit_grants import live_grant
from gateway.http.shared.payment_answers import not_set_up
from gateway.http.whole import json_whole, refused
from gateway.llm.reading.calls import parse_json
from gateway.services.metering.idempotency import adjustment_use, credit_use, idempotent, refund_use
from gateway.services.money.credits import Posted, post_adjustment, post_credit
from gateway.services.money.payment.payments import Payments
from gateway.services.money.payment.port import NotConfigured, ProviderUnavailable
from gateway.services.money.refunds import Refunded, refund_topup
from gateway.stores.errors import BalanceTooHigh, BalanceTooLow, DuplicateCredit
from gateway.stores.records import GrantSpec

POSITIVE = "'amount_micros' must be a positive integer."


def _too_high(exc: BalanceTooHigh, amount: int) -> InvalidRequest:
    return InvalidRequest(
        f"A balance can be at most {_usd(MAX_EXACT)}; the account can take"
        f" {_usd(exc.most_micros)} more, not {_usd(amount)}.",
        param="amount_micros",
    )


def _own_key(idem: str) -> str:
    """An operator's idempotency key, outside the commitment keeper's namespace: its entries
    (`commitment:...`) are read by their keys, a prepayment's as a charge on invoices."""
    if idem.startswith(COMMITMENT_KEYS):
        raise InvalidRequest(
            f"Idempotency keys starting with '{COMMITMENT_KEYS}' are the commitment keeper's.",
            param="idempotency_key",
        )
    return idem


def _conflict(exc: DuplicateCredit, amount: int, what: str) -> Conflict:
    return Conflict(
        f"This idempotency_key was already used for a {what} of {_usd(exc.first_micros)}"
        f" ({exc.first_micros} micros); this request asks for {_usd(amount)} ({amount} micros).",
        param="idempotency_key",
    )


def _entry(answer: dict[str, Any], reason: str | None, grant: GrantSpec | None) -> dict[str, Any]:
    """A credit or adjustment as its audit record keeps it: the entry, its reason and grant."""
    kept = {k: answer[k] for k in ("entry_id", "amount_micros", "balance_micros")}
    spec = (
        None
        if grant is None
        else {"kind": grant.kind, "expires_at": grant.expires_at, "priority": grant.priority}
    )
    return kept | {"reason": reason, "grant": spec}


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
    amount = json_whole(amount, "amount_micros", minimum=1, maximum=MAX_EXACT, words=POSITIVE)
    idem = _own_key(idem)
    app = request.config_dict
    try:
        async with idempotent(
            app[IDEMPOTENCY], account_id, idem, credit_use(account_id, amount, grant)
        ):
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
    except BalanceTooHigh as exc:
        raise _too_high(exc, amount) from exc
    answer = _answer(account_id, amount, posted)
    if posted.created:
        await audited.record(
            request,
            "credit.create",
            "ledger_entry",
            str(posted.entry_id),
            account_id,
            None,
            _entry(answer, reason, grant),
        )
    return answer, posted.created


async def adjust_account(
    request: web.Request, account_id: str, amount: object, idem: str, reason: str
) -> tuple[dict[str, Any], bool]:
    """A signed correction with its reason, once per idempotency key; money out may take
    at most what the account has (services/money/credits.py says why)."""
    words = "'amount_micros' must be a non-zero integer (negative takes money out)."
    amount = json_whole(amount, "amount_micros", minimum=-MAX_EXACT, maximum=MAX_EXACT, words=words)
    idem = _own_key(idem)
    if amount == 0:
        raise refused("amount_micros", -MAX_EXACT, MAX_EXACT, words)
    if not reason.strip():
        raise InvalidRequest("An adjustment needs a 'reason'.", param="reason")
    app, use = request.config_dict, adjustment_use(account_id, amount)
    async with idempotent(app[IDEMPOTENCY], account_id, idem, use):
        posted = await _adjust(request, account_id, amount, idem, reason.strip())
    answer = _answer(account_id, amount, posted)
    if posted.created:
        await audited.record(
            request,
            "adjustment.create",
            "ledger_entry",
            str(posted.entry_id),
            account_id,
            None,
            _entry(answer, reason.strip(), None),
        )
    return answer, posted.created


async def _adjust(
    request: web.Request, account_id: str, amount: int, idem: str, reason: str
) -> Posted:
    app = request.config_dict
    try:
        return await post_adjustment(app[LEDGER], app[STORE], account_id, amount, idem, reason)
    except DuplicateCredit as exc:
        raise _conflict(exc, amount, "adjustment") from exc
    except BalanceTooHigh as exc:
        raise _too_high(exc, amount) from exc
    except BalanceTooLow as exc:
        raise InvalidRequest(
            f"The account has {_usd(exc.most_micros)} that can be taken; an adjustment of"
            f" {_usd(amount)} would make it owe money.",
            param="amount_micros",
        ) from exc


async def refund_account(
    request: web.Request, account_id: str, payment_id: str, amount: object, idem: str
) -> tuple[dict[str, Any], bool]:
    """Refund (part of) one of the account's top-ups through its provider, once per key."""
    amount = json_whole(
        amount, "amount_micros", minimum=-MAX_EXACT, maximum=MAX_EXACT, words=POSITIVE
    )
    payments = request.config_dict.get(PAYMENTS)
    if payments is None:
        raise NotFound("Payments are not available on this gateway.")
    use = refund_use(account_id, payment_id, amount)
    async with idempotent(request.config_dict[IDEMPOTENCY], account_id, idem, use):
        done = await _refund(payments, account_id, payment_id, amount, idem)
    answer = {"id": done.id, "payment_id": payment_id, "amount_micros": amount}
    if done.created:
        await audited.record(request, "refund.create", "refund", done.id, account_id, None, answer)
    return answer | {"idempotent_replay": not done.created}, done.created


async def _refund(
    payments: Payments, account_id: str, payment_id: str, amount: int, idem: str
) -> Refunded:
    try:
        return await refund_topup(payments, account_id, payment_id, amount, idem)
    except LookupError as exc:
        raise NotFound("No such payment of this account.") from exc
    except PaymentRuleError as exc:
        raise InvalidRequest(str(exc), param="amount_micros") from exc
    except DuplicateCredit as exc:
        raise _conflict(exc, -amount, "refund") from exc
    except BalanceTooLow as exc:
        raise InvalidRequest(
            f"The account has {_usd(exc.most_micros)} free (not spent, not held by running"
            f" requests); a refund of {_usd(amount)} would make it owe money.",
            param="amount_micros",
        ) from exc
    except NotConfigured as exc:
        raise not_set_up() from exc
    except ProviderUnavailable as exc:
        raise PaymentProviderError(
            "The payment provider did not refund it; nothing was booked.", retry_after_s=5
        ) from exc


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
    declare(
        admin.router,
        Route(
            "POST",
            "/accounts/{account_id}/credits",
            add_credit,
            authority.OPERATOR,
            audits("credit.create"),
            doc=ops_doc.ADD_CREDIT,
        ),
        Route(
            "POST",
            "/accounts/{account_id}/adjustments",
            add_adjustment,
            authority.OPERATOR,
            audits("adjustment.create"),
            doc=ops_doc.ADD_ADJUSTMENT,
        ),
        Route(
            "POST",
            "/accounts/{account_id}/payments/{payment_id}/refunds",
            add_refund,
            authority.OPERATOR,
            audits("refund.create"),
            doc=ops_doc.ADD_REFUND,
        ),
    )
