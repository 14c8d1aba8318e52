"""A month's statement of an organization, as every surface shows it (account and operator
APIs, the CLI through them, the dashboard): read by the statements store, reckoned by
billing/contracts/statements.py."""

from __future__ import annotations

from datetime import datetime

from billing.contracts.statements import Month, Statement, build
from gateway.stores.ports import StatementsPort


async def monthly_statement(
    store: StatementsPort, account_id: str, month: Month, now: datetime
) -> Statement | None:
    """The account's statement of `month`; None if there is no such account."""
    facts = await store.month(account_id, month.start, month.end)
    if facts is None:
        return None
    return build(
        account_id,
        month,
        facts.opening_micros,
        facts.closing_micros,
        facts.movements,
        now=now,
        missing=facts.missing,
    )
