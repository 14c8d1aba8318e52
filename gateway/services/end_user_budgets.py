"""Setting an end-user budget: the ledger database keeps it, Redis is where the reserve
script reads it. Written in that order, so a Redis that missed it gets it back from
`meterway rebuild` (and a retried call writes both again)."""

from __future__ import annotations

from collections.abc import Sequence

from billing.quotas import Quota
from gateway.stores.ports import EndUserBudgetsPort, HotStorePort
from gateway.stores.records import Row


async def set_end_user_budget(
    budgets: EndUserBudgetsPort,
    store: HotStorePort,
    owner: tuple[str, str, str],
    quotas: Sequence[Quota],
) -> Row | None:
    """`owner` is (account id, key id or '', end user or ''); no quotas removes the budget."""
    account_id, key_id, end_user = owner
    row = await budgets.put(account_id, key_id, end_user, quotas)
    await store.put_end_user_budget(account_id, key_id, end_user, quotas)
    return row
