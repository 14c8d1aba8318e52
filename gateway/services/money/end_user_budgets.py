"""Setting an end-user budget: the ledger database keeps it, Redis is where the reserve
script reads it. Written in that order, so a Redis that missed it gets it back from
`meterway rebuild` (and a retried call writes both again)."""

from __future__ import annotations

from collections.abc import Sequence

from billing.grants import check_no_looser, fit_quotas
from billing.money.quotas import Quota, parse_quotas
from gateway.stores.ports import EndUserBudgetsPort, HotStorePort, LedgerPort
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


async def key_budget(
    budgets: EndUserBudgetsPort, account_id: str, key_id: str
) -> tuple[Quota, ...]:
    """A key's own end-user budget (its end users' default); () for none."""
    for row in await budgets.of_account(account_id):
        if row["key_id"] == key_id and not row["end_user"]:
            return tuple(parse_quotas(row["quotas"]))
    return ()


async def set_key_budget(
    ledger: LedgerPort,
    budgets: EndUserBudgetsPort,
    store: HotStorePort,
    key: Row,
    quotas: Sequence[Quota],
) -> Row | None:
    """A key's end-user budget, held within its minting key's (whoever sets it, the owner
    and the operator included: billing.grants.GrantTooWide naming `quotas`), then fitted
    onto every live key minted under it, at any depth, so a tightening reaches them at
    once."""
    account_id = key["account_id"]
    if key.get("minter_kind") == "key" and key.get("minter_id"):
        minter = await key_budget(budgets, account_id, key["minter_id"])
        if minter:
            check_no_looser(minter, quotas)
    row = await set_end_user_budget(budgets, store, (account_id, key["id"], ""), quotas)
    if not quotas:
        return row
    for minted in await ledger.keys_minted_under(key["id"]):
        held = await key_budget(budgets, account_id, minted["id"])
        fitted = fit_quotas(tuple(quotas), held)
        if fitted != held:
            await set_end_user_budget(budgets, store, (account_id, minted["id"], ""), fitted)
    return row
