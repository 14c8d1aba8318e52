"""What every surface calls available (`GET /v1/account`, `meterway billing`, the dashboard,
balance alerts: `HotStore.money`) is what the real reserve.lua lets the account spend: the
balance less what is held and what ended grants still hold, plus the credit line. Checked
against the script's own figure in its refusal, on the test clock."""

from __future__ import annotations

from datetime import timedelta

from billing.money.admission import Admitted, BalanceRefused
from gateway.stores.connect import Stores
from tests.integration.conftest import Holder, make_holder
from tests.integration.test_credit_grants import _advance, _grant, _now


async def _scripts_figure(stores: Stores, h: Holder, rid: str) -> int:
    """The script's `spendable()`, as it names it when refusing more than anyone has."""
    refused = await stores.store.reserve(
        f"{h.account_id}:{rid}", h.record, input_tokens=1, max_output_tokens=1,
        spend_micros=10**12,
    )  # fmt: skip
    assert isinstance(refused, BalanceRefused), refused
    return refused.available_micros


async def test_an_ended_grants_rest_is_not_available(stores: Stores) -> None:
    h = await make_holder(stores, credit=0)
    await _grant(stores, h, 500, "paid")
    await _grant(
        stores, h, 1_000, "promo", kind="promotional",
        expires_at=await _now(stores) + timedelta(hours=1),
    )  # fmt: skip
    held = await stores.store.reserve(
        f"{h.account_id}:hold", h.record, input_tokens=1, max_output_tokens=1, spend_micros=200
    )
    assert isinstance(held, Admitted), held
    before = await stores.store.money(h.account_id)
    assert before is not None and before.available == 1_300 == await _scripts_figure(stores, h, "a")
    await _advance(stores, 3_600_000)  # the promotional grant ends; no keeper has run
    after = await stores.store.money(h.account_id)
    assert after is not None and (after.balance, after.held) == (1_500, 200)
    assert after.available == 300 == await _scripts_figure(stores, h, "b")


async def test_the_credit_line_is_available_as_the_script_lets_it_be_spent(
    stores: Stores,
) -> None:
    h = await make_holder(stores, credit=0)
    await _grant(stores, h, 700, "paid")
    await stores.store.set_credit_line(h.account_id, 5_000)
    money = await stores.store.money(h.account_id)
    assert money is not None and money.available == 5_700 == await _scripts_figure(stores, h, "c")
