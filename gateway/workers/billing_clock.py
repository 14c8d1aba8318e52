"""The billing clock: ends grace periods and applies downgrades when they fall due.

Run every minute under the supervisor (its health is part of /readyz); the time is the
gateway's clock, so tests move that clock instead of sleeping.
"""

from __future__ import annotations

import logging

from gateway.services.money.grace import tick
from gateway.services.money.payment.payments import Payments

log = logging.getLogger("meterway.payments")
BILLING_CLOCK_EVERY_S = 60.0


async def billing_tick(payments: Payments) -> None:
    for line in await tick(payments, await payments.now()):
        log.info("%s", line)
