"""An operator's refund of a top-up: the provider refunds it, the ledger books it at once.

The negative entry (kind `refund`) is keyed by the refund's own id, as a provider's
charge.refunded event books it, so the event that follows is a replay; the operator's
idempotency key makes the provider refund once (Stripe's Idempotency-Key; the local
provider's refund id is made from it). A refund takes back only money the account still has
free: it is decided against the balance less what is held and held before the provider is
asked (services/money/out.py), so it never makes an account owe. A refund made at the
provider itself (its dashboard) is booked when its event arrives, whatever the balance: the
money left, so the ledger must say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from billing.money.display import usd_exact as display_usd
from billing.money.payments import PaymentRuleError
from gateway.services.money.out import REFUND, out_hold
from gateway.services.money.payment.events import post_refund
from gateway.services.money.payment.payments import Payments
from gateway.services.money.payment.port import ProviderUnavailable, RefundState
from gateway.stores.errors import DuplicateCredit
from gateway.stores.records import MoneyOutHold

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
    succeeded top-up, or more than it has left), BalanceTooLow (more than the account has
    free) or DuplicateCredit (the key made a refund of another amount). What is left is the
    payment minus every other refund of it, decided under the payment's lock, so racing
    refunds never add up to more than it; in the same place the refund's money is held
    (services/money/out.py), so racing requests cannot spend it while the provider is asked.
    A retry of a key whose provider call had no answer is its own replay, not a new claim."""
    rows = await p.profiles.payments(account_id, 1000)
    paid = next((r for r in rows if r["id"] == payment_id), None)
    if paid is None:
        raise LookupError(payment_id)
    if paid["status"] != "succeeded":
        raise PaymentRuleError(f"Only a succeeded payment can be refunded ({paid['status']}).")
    if amount % CENT:
        _refuse(paid["amount_micros"])
    claims, hold = p.profiles.refund_claims, out_hold(account_id, amount, REFUND, key, payment_id)
    claim = await claims.claim(
        account_id,
        payment_id,
        paid["amount_micros"],
        key,
        amount,
        hold=lambda: p.store.money_out.take(hold),
    )
    if not claim.placed:
        _refuse(claim.left_micros)
    state = await _ask(p, hold, amount)
    await claims.answered(account_id, key, state.id)
    created = await post_refund(p, state, f"operator refund of {payment_id}", None, hold)
    return Refunded(state.id, payment_id, amount, created)


async def _ask(p: Payments, hold: MoneyOutHold, amount: int) -> RefundState:
    """The provider's refund; a refusal drops the claim and gives the hold back."""
    account_id, payment_id, key = hold.account_id, hold.payment_id or "", hold.key

    async def give_back() -> None:
        await p.store.money_out.give_back(account_id, hold.hold_id)

    try:
        state = await p.provider.refund(payment_id, amount, f"refund-{account_id}-{key}")
    except ProviderUnavailable:
        raise  # no answer: the claim and its hold stay until a retry finds the refund
    except Exception:
        await p.profiles.refund_claims.drop(account_id, payment_id, key, give_back)
        raise
    if state.amount_micros != amount:
        await p.profiles.refund_claims.drop(account_id, payment_id, key, give_back)
        raise DuplicateCredit(key, -state.amount_micros)
    return state
