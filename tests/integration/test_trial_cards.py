"""The trial's card check and its revocation against the real stores: however many sign-ups
verify one card at once, it funds one trial; a trial refused for a reused card is given for
a card that funded none; a card never buys back what another check refused; and a trial an
operator took back is never given again, by a card or an approval."""

from __future__ import annotations

import asyncio
import secrets

from billing.members.signup import Policy, address
from gateway.config.signup import SignupSettings
from gateway.services.members.signup import decide, grant_trial, open_account
from gateway.services.trust.trial_gate import Signals, card_verified, check
from gateway.stores.connect import Stores
from tests.integration.test_signup_once import TRIAL, desk, never_counted

CARD_ONLY = SignupSettings(trial_card=True)


async def signed_up(stores: Stores, policy: Policy = "open") -> str:
    """A sign-up whose trial waits for a card."""
    here = desk(stores)
    done = await open_account(here, address(f"c{secrets.token_hex(5)}@example.com"), policy)
    hold = await check(here, CARD_ONLY, done.account_id, address("x@example.com"),
                       Signals("203.0.113.0/24", ""), never_counted)  # fmt: skip
    assert hold == "card"
    return done.account_id


async def balance(stores: Stores, account_id: str) -> int:
    row = await stores.ledger.get_account(account_id)
    assert row is not None
    assert await stores.store.balance(account_id) == (row["balance_micros"], 0)
    return int(row["balance_micros"])


async def test_one_card_funds_one_trial_however_concurrently(stores: Stores) -> None:
    assert TRIAL is not None
    accounts = [await signed_up(stores) for _ in range(8)]
    card = f"fp_{secrets.token_hex(8)}"
    here = desk(stores)
    posted = await asyncio.gather(*(card_verified(here, a, card) for a in accounts))
    assert sum(p is not None for p in posted) == 1
    balances = [await balance(stores, a) for a in accounts]
    assert sorted(balances) == [0] * 7 + [TRIAL.amount_micros]
    again = await asyncio.gather(*(card_verified(here, a, card) for a in accounts))
    assert again == [None] * 8  # a repeat (Stripe's two events) gives nothing more


async def test_a_reused_card_refuses_until_a_card_that_funded_none(stores: Stores) -> None:
    assert TRIAL is not None
    first, second = await signed_up(stores), await signed_up(stores)
    here, used = desk(stores), f"fp_{secrets.token_hex(8)}"
    assert await card_verified(here, first, used) is not None
    assert await card_verified(here, second, used) is None
    row = await stores.signups().of_account(second)
    assert row is not None and (row["trial_hold"], row["trial_check"]) == ("refused", "card")
    assert await card_verified(here, second, f"fp_{secrets.token_hex(8)}") is not None
    assert await balance(stores, second) == TRIAL.amount_micros


async def test_a_card_never_buys_back_another_checks_refusal(stores: Stores) -> None:
    here = desk(stores)
    addr = address(f"d{secrets.token_hex(5)}@mailinator.com")
    done = await open_account(here, addr, "open")
    rules = SignupSettings(trial_card=True, trial_disposable=True)
    hold = await check(here, rules, done.account_id, addr,
                       Signals("", ""), never_counted)  # fmt: skip
    assert hold == "refused"
    assert await card_verified(here, done.account_id, f"fp_{secrets.token_hex(8)}") is None
    assert await balance(stores, done.account_id) == 0


async def test_a_trial_taken_back_is_never_given_again(stores: Stores) -> None:
    here = desk(stores)
    waiting = await signed_up(stores)
    assert not await stores.signups().revoke_trial(waiting, "admin:test")  # none given yet
    assert await card_verified(here, waiting, f"fp_{secrets.token_hex(8)}") is None
    pending = await signed_up(stores, "approval")
    assert await card_verified(here, pending, f"fp_{secrets.token_hex(8)}") is None  # at approval
    await stores.signups().revoke_trial(pending, "admin:test")
    await decide(here, pending, True, "admin:test")
    assert await grant_trial(here, pending) is None
    assert await balance(stores, waiting) == await balance(stores, pending) == 0


async def test_a_card_is_recorded_for_the_farms_with_the_check_off(stores: Stores) -> None:
    here = desk(stores)
    done = await open_account(here, address(f"e{secrets.token_hex(5)}@example.com"), "open")
    off = SignupSettings()
    assert await check(here, off, done.account_id, address("e@example.com"),
                       Signals("203.0.113.0/24", ""), never_counted) == "none"  # fmt: skip
    assert await grant_trial(here, done.account_id) is not None  # as before the checks
    card = f"fp_{secrets.token_hex(8)}"
    assert await card_verified(here, done.account_id, card) is None
    row = await stores.signups().of_account(done.account_id)
    assert row is not None and row["card_fingerprint"] == card and not row["card_funded"]


async def test_a_sign_up_whose_checks_never_ran_is_given_no_trial(stores: Stores) -> None:
    """A verification that failed between opening the account and running its checks (a
    Redis error counting its network): no approval, card or retry gives that trial."""
    here = desk(stores)
    pending = await open_account(here, address(f"u{secrets.token_hex(5)}@example.com"), "approval")
    await decide(here, pending.account_id, True, "admin:test")
    assert await grant_trial(here, pending.account_id) is None
    assert await card_verified(here, pending.account_id, f"fp_{secrets.token_hex(8)}") is None
    row = await stores.signups().of_account(pending.account_id)
    assert row is not None and row["trial_hold"] == "unchecked"
    assert await balance(stores, pending.account_id) == 0
