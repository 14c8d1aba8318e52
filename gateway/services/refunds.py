"""An operator's refund of a top-up: the provider refunds it, the ledger books it at once.

The negative entry (kind `refund`) is keyed by the refund's own id, as a provider's
charge.refunded event books it, so the event that follows is a replay; the operator's
idempotency key makes the provider refund once (Stripe's Idempotency-Key; the local
provider's refund id is made from it). A refund is booked even if the money was spent since:
it left through the provider, so the ledger must say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from billing.display import usd_exact as display_usd
from billing.payments import PaymentRuleError
from gateway.services.payment_events import post_refund
from gateway.services.payments import Payments
from gateway.services.payments_port import ProviderUnavailable
from gateway.stores.errors import DuplicateCredit

CENT = 10_000  # providers refund whole cents


@dataclass(frozen=True, slots=True)
class Refunded:
    id: str
    payment_id: str
    amount_micros: int
    created: bool


def _refuse(left: int) -> NoReturn:
    if left <= 0:
        raise PaymentRuleError("This payment is refunded in full; nothing is left to refund.")
    raise PaymentRuleError(f"A refund of this payment is whole cents, at most {display_usd(left)}.")


async def refund_topup(
    p: Payments, account_id: str, payment_id: str, amount: int, key: str
) -> Refunded:
    """Raises LookupError (no such payment of this account), PaymentRuleError (not a
    succeeded top-up, or more than it has left) or DuplicateCredit (the key made a refund of
    another amount). What is left is the payment minus every other refund of it, decided
    under the payment's lock, so racing refunds never add up to more than it; a retry of a
    key whose provider call had no answer is its own replay, not a new claim."""
    rows = await p.profiles.payments(account_id, 1000)
    paid = next((r for r in rows if r["id"] == payment_id), None)
    if paid is None:
        raise LookupError(payment_id)
    if paid["status"] != "succeeded":
        raise PaymentRuleError(f"Only a succeeded payment can be refunded ({paid['status']}).")
    if amount % CENT:
        _refuse(paid["amount_micros"])
    claims = p.profiles.refund_claims
    claim = await claims.claim(account_id, payment_id, paid["amount_micros"], key, amount)
    if not claim.placed:
        _refuse(claim.left_micros)
    try:
        state = await p.provider.refund(payment_id, amount, f"refund-{account_id}-{key}")
    except ProviderUnavailable:
        raise  # no answer: the claim keeps counting until a retry of the key finds the refund
    except Exception:
        await claims.drop(account_id, key)
        raise
    if state.amount_micros != amount:
        await claims.drop(account_id, key)
        raise DuplicateCredit(key, -state.amount_micros)
    await claims.answered(account_id, key, state.id)
    created = await post_refund(p, state, f"operator refund of {payment_id}", None)
    return Refunded(state.id, payment_id, amount, created)
