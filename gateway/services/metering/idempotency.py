"""Idempotency that means it: a key names one operation on one request body.

Every money route (credits, adjustments, refunds, grant revocations, plan changes, on the
API and the dashboard alike) runs its change inside `idempotent(...)`. The first use of a key
is recorded with a fingerprint (the operation's name and a SHA-256 of the canonical JSON of
its normalized request); a reuse with the same fingerprint goes on to the operation, whose
own idempotency (the ledger's guard rows, the provider's key) answers it as a replay; a
reuse with any other fingerprint is refused with IdempotencyConflict (409) naming the key
and what it first did, before anything moves. A use refused for what it asked (a 4xx) is
forgotten, so the key may be used again for a corrected request.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC
from typing import Any

from billing.money.display import usd_exact
from gateway.errors import IdempotencyConflict, MeterwayError
from gateway.stores.audit_records import FirstUse
from gateway.stores.ports.metering.idempotency import IdempotencyPort


def money(micros: int) -> str:
    """An amount in a summary: dollars exactly, and the micros the request gave."""
    return f"{usd_exact(micros)} ({micros} micros)"


def first_use(operation: str, request: Mapping[str, Any], summary: str) -> FirstUse:
    """The fingerprint of `operation` on its normalized `request` (what the operation acts
    on, every field that changes what it does), with `summary` in words ("a credit of
    $2.50 (2500000 micros) to acct_x")."""
    canonical = json.dumps(
        {"operation": operation, "request": request},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        default=str,
    )
    return FirstUse(operation, hashlib.sha256(canonical.encode()).hexdigest(), summary)


def conflict(key: str, first: FirstUse, this: FirstUse) -> IdempotencyConflict:
    """The refusal of a reuse: the first use in words, then what this request asks. The
    same operation on another body says the body's words only ("$6.00 (...) to acct_x")."""
    asked = this.summary
    if first.operation == this.operation:
        for article in ("a", "an"):
            asked = asked.removeprefix(f"{article} {this.operation} of ")
        if this.summary == first.summary:
            asked = f"the same {this.operation} with other fields"
    return IdempotencyConflict(key, first.summary, asked)


@asynccontextmanager
async def idempotent(
    port: IdempotencyPort, account_id: str, key: str, use: FirstUse
) -> AsyncIterator[bool]:
    """Run the body once the key is this use's: yields True when this call is the key's
    first use, False for a replay of the same operation and body. Raises
    IdempotencyConflict (nothing done) when the key was first used otherwise."""
    prior = await port.claim(account_id, key, use)
    if prior is not None and prior.fingerprint != use.fingerprint:
        raise conflict(key, prior, use)
    try:
        yield prior is None
    except MeterwayError as exc:
        if prior is None and exc.status < 500:
            await port.release(account_id, key, use.fingerprint)
        raise


# The money routes' uses: what each operation's request is, normalized (every field that
# changes what it does), and its summary.


def credit_use(account_id: str, amount: int, grant: Any) -> FirstUse:
    """A credit (funding `grant`, a GrantSpec or None for a plain paid one). Its reason is a
    note, not what it does: an old copy of a form resent without it is still a replay."""
    spec = None
    if grant is not None:
        expires = grant.expires_at.astimezone(UTC).isoformat() if grant.expires_at else None
        spec = {"kind": grant.kind, "expires_at": expires, "priority": grant.priority}
    request = {"account_id": account_id, "amount_micros": amount, "grant": spec}
    return first_use("credit", request, f"a credit of {money(amount)} to {account_id}")


def adjustment_use(account_id: str, amount: int) -> FirstUse:
    """An adjustment; its reason is a note, as a credit's is."""
    request = {"account_id": account_id, "amount_micros": amount}
    return first_use("adjustment", request, f"an adjustment of {money(amount)} to {account_id}")


def refund_use(account_id: str, payment_id: str, amount: int) -> FirstUse:
    """A refund, said as money out (-amount), as the ledger books it."""
    request = {"account_id": account_id, "payment_id": payment_id, "amount_micros": amount}
    summary = f"a refund of {money(-amount)} of payment {payment_id} of {account_id}"
    return first_use("refund", request, summary)


def revocation_use(account_id: str, grant_id: str) -> FirstUse:
    request = {"account_id": account_id, "grant_id": grant_id}
    return first_use("grant revocation", request, f"revoking grant {grant_id} of {account_id}")


def plan_use(account_id: str, plan: str, mode: object, billing_ready: object) -> FirstUse:
    request = {"account_id": account_id, "plan": plan, "mode": mode, "ready": billing_ready}
    return first_use("plan change", request, f"a plan change of {account_id} to {plan}")
