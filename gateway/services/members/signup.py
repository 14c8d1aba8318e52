"""A person who signed themselves up becomes an organization: the account on the
operator's default plan, its owner, and (open policy, or once approved) the plan's trial.

Everything here happens once per address, however many times and however concurrently it
is asked: the address is claimed first (`signups`' primary key), and only the one caller
that claimed it opens the account; a second verification finds the first's account. The
trial is posted with an idempotency key fixed per account, so a sign-up never grants more
than its plan's trial.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from billing.members.signup import Address, Policy
from billing.money.plans import PlanBook
from gateway.errors import Conflict, SigninFailed
from gateway.services.auth import new_id
from gateway.services.members.joining import Joining, Way, join
from gateway.services.money.credits import Posted, post_credit
from gateway.services.money.plan_change import put_account_row
from gateway.stores.errors import DuplicateCredit
from gateway.stores.ports import (
    DomainClaimsPort,
    HotStorePort,
    LedgerPort,
    MembersPort,
    SignupsPort,
)
from gateway.stores.ports.ledger import NotifyOutbox
from gateway.stores.records import GrantSpec, Row

TRIAL_KEY = "signup-trial"  # the trial's idempotency key: one per account
TRIAL_REASON = "sign-up trial"  # its ledger entry's and grant's reason
BIND_WAIT_S = 5.0  # how long a second verification waits for the first to open the account


@dataclass(frozen=True, slots=True)
class Desk:
    """The stores sign-up writes to."""

    ledger: LedgerPort
    store: HotStorePort
    members: MembersPort
    signups: SignupsPort
    plans: PlanBook
    claims: DomainClaimsPort
    outbox: NotifyOutbox | None = None  # where the operator is told of withheld trials


@dataclass(frozen=True, slots=True)
class Opened:
    """The owner a verification signs in as; `created` False when the address had signed
    up before (this verification opened nothing)."""

    member: Row
    account_id: str
    status: str
    created: bool


async def open_account(
    desk: Desk, addr: Address, policy: Policy, issuer: str = "", subject: str = ""
) -> Opened:
    """The verified address's organization: opened now (pending under `approval`, else
    active), or the one it opened before."""
    via = "oidc" if subject else "e-mail"
    if not await desk.signups.claim(addr.normalized, addr.email, via):
        return await _opened_before(desk, addr)
    plan = desk.plans.plans[desk.plans.default]
    account_id, status = new_id("acct"), "pending" if policy == "approval" else "active"
    # Redis first, as the operator's create does: an account the ledger knows always has
    # its hot record, born pending so no key of it is served before the approval.
    await desk.store.put_account(
        account_id,
        plan=plan.name,
        mode=plan.mode,
        billing_ready=False,
        quotas=plan.quotas,
        markup_bps=plan.markup_bps,
        next_markup=plan.next_markup,  # its plan's reviewed change
        signup_status=status,
    )
    await desk.ledger.create_account(account_id, addr.email, plan.name, plan.mode)
    opener = Joining(account_id, addr.email, Way.SIGNUP, "owner", issuer, subject)
    member = (await join(desk.members, desk.claims, opener)).member
    if not subject:
        accepted = await desk.members.accept(member["id"], addr.email)
        member = accepted if accepted is not None else member
    # Bound last: a concurrent verification waits for the bound account, so it must find
    # its owner there already (bound first, it could read the account before its member).
    await desk.signups.bind(addr.normalized, account_id, status)
    return Opened(member, account_id, status, True)


async def _opened_before(desk: Desk, addr: Address) -> Opened:
    """The account an earlier verification of this very address opened (waiting a moment
    for a concurrent one to finish opening it). A variant of it (`ada+x@` after `ada@`)
    shares its one sign-up and trial but is another person: Conflict, never its account."""
    loop = asyncio.get_running_loop()
    until = loop.time() + BIND_WAIT_S
    row = await desk.signups.get(addr.normalized)
    while row is not None and row["account_id"] is None and loop.time() < until:
        await asyncio.sleep(0.05)
        row = await desk.signups.get(addr.normalized)
    if row is None or row["account_id"] is None:
        raise Conflict("This address's sign-up is still being opened; try again in a moment.")
    if row["email"] != addr.email:  # folding is an abuse limit, never who a person is
        raise Conflict(
            "An address that differs from this one only by a +tag or dots signed up before:"
            " one sign-up each. Sign in with that address, or sign up with another.",
            param="email",
        )
    mine = [
        m for m in await desk.members.by_email(row["email"]) if m["account_id"] == row["account_id"]
    ]
    if not mine:
        raise SigninFailed("This address signed up before and is no member of its account now.")
    return Opened(mine[0], str(row["account_id"]), str(row["status"]), False)


async def grant_trial(desk: Desk, account_id: str, now: datetime | None = None) -> Posted | None:
    """The plan's trial, once per sign-up; None when its plan gives none, when it was given
    before, when a concurrent call posted it, or when the trial's checks hold it. Posted
    before it is marked: the post's idempotency key is fixed per account, so a race or a
    retry after a crash posts it once and a crash between the two loses nothing."""
    account = await desk.ledger.get_account(account_id)
    plan = desk.plans.get(account["plan"]) if account else None
    signup = await desk.signups.of_account(account_id)
    if plan is None or plan.trial is None or signup is None or signup["trial_at"] is not None:
        return None
    if signup["trial_hold"] != "none":  # refused, waiting for a card, or never checked
        return None
    trial = plan.trial
    ends = (now or datetime.now(UTC)) + timedelta(days=trial.days)
    grant = GrantSpec("trial", ends, trial.priority, TRIAL_REASON)
    try:
        posted = await post_credit(
            desk.ledger, desk.store, account_id, trial.amount_micros, TRIAL_KEY,
            TRIAL_REASON, grant=grant,
        )  # fmt: skip
    except DuplicateCredit:  # given before, at another amount (the plan's trial changed)
        posted = None
    await desk.signups.take_trial(account_id)
    return posted if posted is not None and posted.created else None


async def decide(desk: Desk, account_id: str, approve: bool, by: str) -> Row:
    """An operator's decision on a pending sign-up: approved, its keys are served from the
    next request and its trial is given; rejected, they stay refused. Conflict when it is
    not pending: decided already, or an account no sign-up opened (nothing to decide)."""
    if await desk.signups.of_account(account_id) is None:
        raise Conflict("This account did not sign itself up: there is nothing to decide.")
    row = await desk.signups.decide(account_id, "active" if approve else "rejected", by)
    if row is None:
        raise Conflict("This sign-up was decided already.")
    account = await desk.ledger.get_account(account_id)
    if account is not None:
        await put_account_row(desk.store, account, desk.plans.get(account["plan"]))
    return row
