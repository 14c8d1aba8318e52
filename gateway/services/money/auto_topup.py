"""Auto top-up: after a settlement leaves the balance under the threshold, charge once.

The hot path pays nothing for it: the threshold rides in the account's hot record and the
settle script reports a debit that left the balance under it; only then does a check run
(which reads the threshold and balance again). The charge itself is claimed in PostgreSQL:
one in flight per account across every gateway process, and never past the month's cap.
The credit lands before the claim is released, and a check reads the balance again once it
holds the claim, so a check that read it before another charge finished does not charge twice.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

from billing.money.payments import AUTO_TOPUP_MAX_FAILURES, auto_topup_due, month_start
from gateway.services.money.payment.events import apply_payment
from gateway.services.money.payment.payments import Payments

log = logging.getLogger("meterway.payments")


class AutoTopups:
    def __init__(self, payments: Payments) -> None:
        self.payments = payments
        self._running: dict[str, bool] = {}  # account -> re-check when done
        self._tasks: set[asyncio.Task[Any]] = set()

    def after_settle(self, account_id: str) -> None:
        """Called by the meter after a settlement left the balance under the threshold;
        never blocks the answer."""
        if account_id in self._running:
            self._running[account_id] = True
            return
        self._running[account_id] = False
        task = asyncio.get_running_loop().create_task(self._loop(account_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _loop(self, account_id: str) -> None:
        try:
            while True:
                try:
                    await self.check(account_id)
                except Exception:
                    log.exception("auto top-up check for %s failed", account_id)
                if not self._running.get(account_id):
                    return
                self._running[account_id] = False
        finally:
            self._running.pop(account_id, None)

    async def check(self, account_id: str) -> str:
        """Charge if due; returns what happened (tests and logs)."""
        p = self.payments
        threshold = await p.store.auto_threshold(account_id)
        if threshold is None:  # turned off since the settlement reported it
            return "not due"
        hot = await p.store.balance(account_id)
        if hot is None or hot[0] >= threshold:
            return "not due"
        profile = await p.profiles.profile(account_id)
        if profile is None or profile.auto_topup is None or profile.auto_off_reason:
            return "off"
        now = await p.now()
        if not auto_topup_due(hot[0], profile.auto_topup, 0):
            return "not due"
        if not await p.profiles.claim_auto_charge(account_id, month_start(now), now):
            return "in flight or capped"
        hot = await p.store.balance(account_id)  # a charge that released the slot raised it
        if hot is None or not auto_topup_due(hot[0], profile.auto_topup, 0):
            await p.profiles.unclaim_auto_charge(account_id)
            return "not due"
        return await self._charge(account_id, profile.customer_id, profile.auto_topup.amount_micros)

    async def _charge(self, account_id: str, customer: str, amount: int) -> str:
        p = self.payments
        failed, charge = True, f"auto_{secrets.token_hex(12)}"
        try:
            state = await p.provider.charge_saved_method(account_id, customer, amount, charge)
            charge = state.id
            outcome = await apply_payment(p, state, None)
            failed = state.status != "succeeded"
            return outcome
        finally:
            left = await p.profiles.release_auto_charge(
                account_id, failed=failed, limit=AUTO_TOPUP_MAX_FAILURES
            )
            if failed and left >= AUTO_TOPUP_MAX_FAILURES:
                await p.store.set_auto_threshold(account_id, None)
            if failed and left == AUTO_TOPUP_MAX_FAILURES:  # this failure turned it off
                data = {"failures": left, "payment_id": charge, "amount_micros": amount}
                await p.notify(account_id, "auto_topup.disabled", data, charge)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
