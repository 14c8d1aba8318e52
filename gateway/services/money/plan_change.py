"""Moving an account to a plan, or changing its markup: the one path for the operator API
and for payments.

PostgreSQL first, then the hot record, so the new limits (and the markup reserve.lua marks
holds up by) are live on every gateway process on the next request.
"""

from __future__ import annotations

from billing.money.plans import Plan, PlanBook, next_markup, resolved_markup
from gateway.stores.ports import HotStorePort, LedgerPort
from gateway.stores.records import Row


async def apply_plan(
    ledger: LedgerPort,
    store: HotStorePort,
    account_id: str,
    plan: Plan,
    *,
    mode: str | None = None,
    billing_ready: bool,
) -> bool:
    """False when there is no such account. The account's own markup, if set, stays."""
    chosen = mode or plan.mode
    row = await ledger.set_plan(account_id, plan.name, chosen, billing_ready)
    if row is None:
        return False
    await put_account_row(store, row, plan)
    return True


async def apply_markup(
    ledger: LedgerPort, store: HotStorePort, plans: PlanBook, account_id: str, markup: int | None
) -> Row | None:
    """Set (None: clear, back to the plan's) an account's markup; the account, or None when
    there is no such account. Holds already made keep the markup they were made with."""
    row = await ledger.set_markup(account_id, markup)
    if row is not None:
        await put_account_row(store, row, plans.get(row["plan"]))
    return row


async def apply_credit_line(
    ledger: LedgerPort, store: HotStorePort, account_id: str, micros: int
) -> Row | None:
    """Set an account's credit line (0: none): reservations are admitted, and debits
    collected, down to -micros from the next request on. The account, or None. A line that
    raises the floor is decided in Redis first, atomically against what the account has
    less what is held (LineTooLow when it is already below the new floor), then written to
    PostgreSQL; if that write fails, Redis is given the line it had back."""
    before = await store.money_out.set_line(account_id, micros)
    try:
        row = await ledger.set_credit_line(account_id, micros)
    except BaseException:
        await store.set_credit_line(account_id, before)
        raise
    if row is None:
        await store.set_credit_line(account_id, before)
    return row


async def put_account_row(store: HotStorePort, row: Row, plan: Plan | None) -> None:
    """An account's hot record as its PostgreSQL row says: its plan's limits and mode, and
    its markup resolved (its own, else its plan's). `ops/rebuild.py` does the same from the
    ledger's rows (its room reaches stores, not services)."""
    await store.put_account(
        row["id"],
        plan=row["plan"],
        mode=row["mode"],
        billing_ready=row["billing_ready"],
        quotas=plan.quotas if plan else (),
        markup_bps=resolved_markup(plan, row.get("markup_bps")),
        signup_status=row.get("signup_status"),
        next_markup=next_markup(
            plan, row.get("next_markup_at"), row.get("next_markup_bps"), row.get("markup_bps")
        ),
    )
