"""The one next step of an account, decided once from its state.

The account API's `next`, `meterway billing status`, the dashboard and the 402/429 error
bodies all render the value `decide` returns; none of them decides on its own. A step is
needed only when the account is blocked (its requests are refused now) or about to be:

- a prepaid balance under the low-balance line (NOTIFY_BALANCE_LOW_MICROS) with no
  auto top-up to refill it;
- a failed plan payment's grace period running (the plan ends when it does);
- an account that signed itself up waiting for the operator's approval (first of all).

Otherwise the step is "none", and `meterway billing status` exits 0.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from billing import authority
from billing.authority import Actor
from billing.money.display import quota_amount, quota_label, usd, usd_cost
from billing.money.payments import arranged_with_sales
from billing.money.plans import PlanBook
from billing.roles import ROLE_SCOPES

Action = Literal[
    "none",
    "top_up",
    "setup",
    "fix_payment",
    "upgrade",
    "wait",
    "contact_sales",
    "wait_for_approval",
]
DASHBOARD = "/dashboard"
API = "/v1/account/billing"
TOPUP_COMMAND = "meterway billing topup --amount 10"


@dataclass(frozen=True, slots=True)
class FullWindow:
    """A quota window with nothing left: `resets_at` is None for a lifetime one."""

    window: str
    metric: str
    used: int
    limit: int
    resets_at: str | None
    scope: str = "account"  # the level: account, team, key or end_user
    requested: int = 1  # what the refused request asked for: a plan must fit used + this
    name: str = ""  # the level's name as people know it (the team's, the key's, the end user)


@dataclass(frozen=True, slots=True)
class AccountState:
    """What the decision reads, whatever surface gathered it."""

    plan: str
    mode: str
    billing_ready: bool = True
    in_grace: bool = False
    available_micros: int | None = None  # None: the balance is not in question (a 429)
    required_micros: int = 1  # what the next request must afford (a 402: its worst case)
    low_micros: int = 0  # a prepaid balance under this is about to run out
    auto_topup: bool = False  # an auto top-up refills a low balance by itself
    full: tuple[FullWindow, ...] = ()
    pending_approval: bool = False  # signed itself up; the operator has not approved it yet


@dataclass(frozen=True, slots=True)
class NextStep:
    action: Action
    blocked: bool  # requests are refused now (else: about to be, or nothing to do)
    reason: str
    url: str  # a page a person can open (GET), in the dashboard
    command: str  # the exact `meterway` command
    api: str | None = None  # the route a program POSTs to for it
    plan: str | None = None
    resets_at: str | None = None
    ask: tuple[str, ...] = ()  # the roles to ask, when the caller may not take the step

    def json(self) -> dict[str, Any]:
        api = {"method": "POST", "path": self.api} if self.api else None
        shown = {
            "action": self.action,
            "blocked": self.blocked,
            "reason": self.reason,
            "url": self.url,
            "command": self.command,
            "api": api,
            "plan": self.plan,
            "resets_at": self.resets_at,
        }
        return shown | {"ask": list(self.ask)} if self.ask else shown  # only when it applies


NOTHING = NextStep("none", False, "Nothing to do.", f"{DASHBOARD}/", "meterway billing status")


WAITING_FOR_APPROVAL = NextStep(
    "wait_for_approval",
    True,
    "Your account is waiting for the operator's approval; you will get an e-mail. Until then"
    " its keys are refused (403 account_pending_approval).",
    f"{DASHBOARD}/",
    "meterway auth status",
)


PAYING = frozenset({"top_up", "setup", "fix_payment", "upgrade"})


@dataclass(frozen=True, slots=True)
class Links:
    """Where a step's page is: an operator's own billing page (BILLING_URL) for the steps
    that pay, else the dashboard's, in full on PUBLIC_URL when it is set (a person reading
    a 402 in a terminal or a mail has no page to resolve a path against)."""

    billing_url: str = ""
    public_url: str = ""

    def place(self, step: NextStep) -> NextStep:
        if self.billing_url and step.action in PAYING:
            return replace(step, url=self.billing_url)
        if self.public_url and step.url.startswith("/"):
            return replace(step, url=self.public_url + step.url)
        return step


DASHBOARD_LINKS = Links()


def decide(state: AccountState, plans: PlanBook, links: Links = DASHBOARD_LINKS) -> NextStep:
    """The one step, in order of urgency: a failed payment, missing billing, an empty
    balance, a full quota, a low balance; else nothing; its page placed by `links`."""
    return links.place(_decide(state, plans))


def _decide(state: AccountState, plans: PlanBook) -> NextStep:
    prepaid = state.mode == "prepaid" and state.available_micros is not None
    if state.pending_approval:
        return WAITING_FOR_APPROVAL
    if state.in_grace:
        return _fix_payment(state)
    if state.mode == "postpaid" and not state.billing_ready:
        return NextStep(
            "setup", True, "Billing is not set up: save a payment method.",
            f"{DASHBOARD}/billing#method", "meterway billing setup", f"{API}/setup",
        )  # fmt: skip
    if prepaid and _left(state) < state.required_micros:
        return _top_up(state, blocked=True)
    if state.full:
        return _quota(state, plans)
    if prepaid and _left(state) < state.low_micros:
        return NOTHING if state.auto_topup else _top_up(state, blocked=False)
    return NOTHING


def refused(state: AccountState, window: FullWindow) -> AccountState:
    """The state as a call refused by `window` leaves it: that window counts as full
    whatever else does. A 429 decides from it (with the account's own facts), and so does
    every surface that reads the account while the refusal still stands (`standing`)."""
    same = (window.window, window.metric, window.scope)
    others = tuple(w for w in state.full if (w.window, w.metric, w.scope) != same)
    return replace(state, full=(window, *others))


def standing(
    refusal: FullWindow, used: int, limit: int, resets_at: str | None
) -> FullWindow | None:
    """The account's last refused window as it stands now (its use, limit and reset read
    again): full while the refused call would be refused again, else None (the window
    reset, or the plan lifted it)."""
    if used + refusal.requested <= limit:
        return None
    return replace(refusal, used=used, limit=limit, resets_at=resets_at)


def _left(state: AccountState) -> int:
    return state.available_micros or 0


def _fix_payment(state: AccountState) -> NextStep:
    blocked = state.available_micros is not None and _left(state) < state.required_micros
    return NextStep(
        "fix_payment", blocked,
        "A plan payment failed: update your payment method before the grace period ends.",
        f"{DASHBOARD}/billing#method", "meterway billing portal", f"{API}/portal",
    )  # fmt: skip


def _top_up(state: AccountState, *, blocked: bool) -> NextStep:
    left = usd(max(_left(state), 0))
    if not blocked:
        reason = (
            f"The balance is low ({left} available, under {usd(state.low_micros)}): add credit."
        )
    elif state.required_micros > 1 and _left(state) > 0:
        need = usd_cost(state.required_micros)
        exact = usd_cost(_left(state))
        reason = f"The balance ({exact} available) does not cover this request (up to {need})"
        reason += ": add credit."
    else:
        reason = f"The balance is used up ({left} available): add credit."
    return NextStep(
        "top_up", blocked, reason, f"{DASHBOARD}/billing#topup", TOPUP_COMMAND, f"{API}/topups"
    )


def _quota(state: AccountState, plans: PlanBook) -> NextStep:
    """Every full window must be lifted: a plan sold here, else sales, else the wait."""
    lifts = [_lift(state.plan, w, plans) for w in state.full]
    stuck = [w for p, w in zip(lifts, state.full, strict=True) if p is None and not w.resets_at]
    if stuck:  # used up for good and no plan lifts it
        return _sales(stuck[0], None)
    wanted = [p for p in lifts if p is not None]
    if wanted:
        top = max(wanted, key=lambda name: plans.plans[name].rank)
        if arranged_with_sales(plans, plans.plans[top]):
            return _sales(state.full[0], top)
        return NextStep(
            "upgrade", True, f"{_words(state.full[0])} is used up: the {top} plan lifts it.",
            f"{DASHBOARD}/billing?upgrade={top}#plans", f"meterway billing plan {top}",
            f"{API}/subscription", plan=top,
        )  # fmt: skip
    resets = max(w.resets_at for w in state.full if w.resets_at is not None)
    return NextStep(
        "wait", True, f"{_words(state.full[0])} is used up until {resets}.",
        f"{DASHBOARD}/#limits", "meterway billing status", resets_at=resets,
    )  # fmt: skip


def _lift(plan: str, w: FullWindow, plans: PlanBook) -> str | None:
    """The cheapest higher plan with room for one more; a key's own quota no plan lifts."""
    if w.scope != "account":
        return None
    found = plans.upgrade_for(plan, w.window, w.metric, w.used + w.requested)
    return found.plan if found else None


RAISED_BY = {
    "key": "ask whoever issued this key to raise it",
    "team": "an owner or admin of the organization can raise the team's quota",
    "end_user": "whoever issued this key can raise the end-user budget",
}


def _sales(w: FullWindow, plan: str | None) -> NextStep:
    if w.scope != "account":
        why = f"{_words(w)} is used up for good: {RAISED_BY.get(w.scope, RAISED_BY['key'])}."
    else:
        offer = f"the {plan} plan" if plan else "a bigger limit"
        why = f"{_words(w)} is used up: {offer} is arranged with sales."
    return NextStep(
        "contact_sales", True, why, f"{DASHBOARD}/billing#plans", "meterway billing status",
        plan=plan,
    )  # fmt: skip


COMMITMENT_USED_UP = NextStep(
    "contact_sales",
    True,
    "This account's commitment for the period is used up, and its terms refuse calls past"
    " it: adding credit does not lift it. It renews with the next period; until then ask the"
    " operator to raise or renew the commitment, or to let calls past it (overage, or from"
    " the balance).",
    f"{DASHBOARD}/billing#commitment",
    "meterway billing status",
)


WHOSE = {"key": "This key's", "team": "This team's", "end_user": "This end user's"}
NAMED = {"key": "key", "team": "team", "end_user": "end user"}


def _words(w: FullWindow) -> str:
    """ "This team's quota of requests per minute (team 'research', 20 of 20)"."""
    owner = WHOSE.get(w.scope, "The")
    shown = f"{quota_amount(w.metric, w.used)} of {quota_amount(w.metric, w.limit)}"
    if w.name and w.scope in NAMED:
        shown = f"{NAMED[w.scope]} '{w.name}', {shown}"
    return f"{owner} quota of {quota_label(w.window, w.metric)} ({shown})"


# What taking each step needs: its command's and its page's route (billing/authority.py).
NEEDS = {
    "top_up": authority.BILLING_SETUP,
    "setup": authority.BILLING_SETUP,
    "fix_payment": authority.BILLING_SETUP,
    "upgrade": authority.BILLING_SETUP,
    "contact_sales": authority.BILLING_READ,
    "wait": authority.ACCOUNT_READ,
    "none": authority.ACCOUNT_READ,
    "wait_for_approval": authority.SELF,  # `meterway auth status`: any key or person
}


def who_may(action: authority.Action) -> tuple[str, ...]:
    """The roles whose members may take an action, by the one rule (`may`)."""
    return tuple(
        role
        for role in ROLE_SCOPES
        if authority.may(Actor("person", "", authority.role_scopes(role, frozenset())), action)
        is authority.Decision.ALLOW
    )


def for_caller(step: NextStep, actor: Actor | None) -> NextStep:
    """The step as `actor` may take it: when `may` says it cannot use the step's command and
    route, they are left out, and a step that needs someone else (paying, asking sales)
    names the roles that can; the page stays, as the place the member asked goes (the
    dashboard draws no button to it for a caller with `ask`). Waiting needs nobody."""
    needed = NEEDS[step.action]
    if actor is None or authority.may(actor, needed) is authority.Decision.ALLOW:
        return step
    bare = replace(step, command="", api=None)
    if step.action in ("wait", "none", "wait_for_approval"):
        return bare
    roles = who_may(needed)
    who = "This key" if actor.kind == "key" else "Your role"
    reason = (
        f"{step.reason} {who} may not do it: ask a member of the organization with the"
        f" {' or '.join(roles)} role."
    )
    return replace(bare, reason=reason, ask=roles)
