"""Sign-up against the real stores: however many verifications of one address run at once
(spelt in every way the rules call one), one account opens and one trial is posted; a
pending account's keys are refused by the reserve script itself, through a plans sync (the
rebuild's path), until it is approved."""

from __future__ import annotations

import asyncio
import secrets

from billing.members.signup import address
from billing.money.admission import Admitted, KeyRefused
from billing.money.plans import load_plans
from gateway.config.settings import DEFAULT_CONFIG_DIR
from gateway.config.signup import SignupSettings
from gateway.errors import Conflict
from gateway.ops.rebuild import sync_plans
from gateway.services.auth import hash_key
from gateway.services.keys.provisioning import KeySpec, issue_key
from gateway.services.members.signup import Desk, decide, grant_trial, open_account
from gateway.services.trust.trial_gate import Signals, check
from gateway.stores.connect import Stores

PLANS = load_plans(DEFAULT_CONFIG_DIR / "plans.toml")
TRIAL = PLANS.plans[PLANS.default].trial


def desk(stores: Stores) -> Desk:
    return Desk(
        stores.ledger,
        stores.store,
        stores.members(),
        stores.signups(),
        PLANS,
        stores.domain_claims(),
    )


async def never_counted(name: str, window_s: int) -> tuple[int, int]:
    raise AssertionError(f"counted {name} with its limit off")


async def checked(here: Desk, account_id: str) -> None:
    """The trial's checks, all off, as a verification runs them after opening the account."""
    hold = await check(here, SignupSettings(), account_id, address("a@example.com"),
                       Signals("", ""), never_counted)  # fmt: skip
    assert hold == "none"


async def test_racing_verifications_open_one_account_and_one_trial(stores: Stores) -> None:
    assert TRIAL is not None
    local = f"ada{secrets.token_hex(4)}"
    spellings = [f"{local}@gmail.com", f"{local.upper()}+x@gmail.com",
                 f"{local[:2]}.{local[2:]}@googlemail.com", f"{local}+y@GMAIL.com"] * 3  # fmt: skip
    here = desk(stores)

    async def verify(typed: str) -> tuple[str, bool] | None:
        """One verification; None when it is refused as another spelling of an address
        that signed up first (a +tag or dots fold for abuse limits, never into an account)."""
        try:
            done = await open_account(here, address(typed), "open")
        except Conflict:
            return None
        if done.created:  # as the verification that opened it does: its checks, then the trial
            await checked(here, done.account_id)
        await grant_trial(here, done.account_id)
        return done.account_id, done.created

    answers = await asyncio.gather(*(verify(s) for s in spellings))
    results = [r for r in answers if r is not None]
    accounts = {a for a, _ in results}
    assert len(accounts) == 1 and sum(created for _, created in results) == 1
    assert len(results) == 3  # the winner's own spelling, each time; every other refused
    (account_id,) = accounts
    row = await stores.ledger.get_account(account_id)
    assert row is not None and row["balance_micros"] == TRIAL.amount_micros  # the ledger
    assert await stores.store.balance(account_id) == (TRIAL.amount_micros, 0)  # the hot one
    assert await grant_trial(here, account_id) is None  # asked again: nothing more


async def test_a_pending_accounts_keys_are_refused_until_approved(stores: Stores) -> None:
    here = desk(stores)
    done = await open_account(here, address(f"p{secrets.token_hex(4)}@example.com"), "approval")
    await checked(here, done.account_id)
    assert done.status == "pending"
    issued = await issue_key(stores.ledger, stores.store, done.account_id, KeySpec("k"))
    record = await stores.store.lookup_key(hash_key(issued.secret))
    assert record is not None

    async def asked() -> object:
        request = f"req_{secrets.token_hex(6)}"
        return await stores.store.reserve(
            request, record, input_tokens=1, max_output_tokens=1, spend_micros=1
        )

    assert await asked() == KeyRefused("account_pending")
    await sync_plans(stores, PLANS)  # what a rebuild writes back keeps it held
    assert await asked() == KeyRefused("account_pending")
    await decide(here, done.account_id, True, "operator:test")
    await grant_trial(here, done.account_id)
    assert isinstance(await asked(), Admitted)
