"""Moving an account to a plan: the one path for the operator API and for payments.

PostgreSQL first, then the hot record, so the new limits are live on every gateway process
on the next request.
"""

from __future__ import annotations

from billing.plans import Plan
from gateway.stores.ports import HotStorePort, LedgerPort


async def apply_plan(
    ledger: LedgerPort,
    store: HotStorePort,
    account_id: str,
    plan: Plan,
    *,
    mode: str | None = None,
    billing_ready: bool,
) -> bool:
    """False when there is no such account."""
    chosen = mode or plan.mode
    if not await ledger.set_plan(account_id, plan.name, chosen, billing_ready):
        return False
    await store.put_account(
        account_id, plan=plan.name, mode=chosen, billing_ready=billing_ready, quotas=plan.quotas
    )
    return True
