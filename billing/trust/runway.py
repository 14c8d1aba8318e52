"""Runway: when an account's credit runs out at its recent rate of spend, with the credit
that expires before it can be spent taken out, or when its next automatic top-up is due.

The rate is the faster of two readings of the last `BASIS_DAYS` whole UTC days: their
average (rounded up) and the last of them, so spend that rises shows at once and one quiet
day does not lengthen the runway. The credit is walked day by day: a grant ending before a
day begins takes its unspent rest with it; each day's spend draws the grants in the
allocator's order (soonest end first) and then the rest of the balance. Integers only.

A prepaid commitment's open period is walked too: its committed share still unspent leaves
the balance at the period's end (less what rolls over), the next period credits its amount
unless the commitment ends with this one, and where the commitment refuses calls once used
up, the runway ends when a period's allowance does.

What it promises (docs/guides/dashboard.md, "Runway"): if each coming day spends no more
than the stated rate, the credit lasts at least the stated days. It is stated in whole days,
rounded down, and in weeks or months past two weeks, never finer than the rate supports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from billing.contracts import period_after
from billing.money.credit_grants import Grant, draw_order
from billing.money.display import quota_label, usd
from billing.money.micros import BPS

BASIS_DAYS = 7
HORIZON_DAYS = 365


@dataclass(frozen=True, slots=True)
class TopUp:
    """Auto top-up: a charge of `amount_micros` once the balance falls under the threshold."""

    threshold_micros: int
    amount_micros: int


@dataclass(frozen=True, slots=True)
class Committed:
    """A prepaid commitment's open period as the runway walks it: what its allowance has
    left (`left_micros`, the committed share first written off), the period's end (ms),
    and its terms: what each next period credits, the rollover, whether calls are refused
    once a period is used up, and when the commitment ends (None: it goes on)."""

    left_micros: int
    committed_left_micros: int
    period_ends_ms: int
    period: str
    amount_micros: int
    rollover_bps: int = 0
    rollover_cap_micros: int = 0
    refuse: bool = False
    ends_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Runway:
    rate_micros: int  # a day's spend the forecast assumes; 0: no recent spend
    basis_days: int
    days_left: int | None  # whole days the credit lasts; None: no spend, or past the horizon
    lost_micros: int  # credit that expires unspent within the runway
    top_up_in_days: int | None  # with auto top-up: the day the balance first falls under it
    refused: bool = False  # the end is the commitment's allowance, calls refused past it

    @property
    def words(self) -> str:
        return runway_words(self)

    def json(self) -> dict[str, object]:
        return {
            "rate_micros_per_day": self.rate_micros,
            "basis_days": self.basis_days,
            "days_left": self.days_left,
            "expires_unspent_micros": self.lost_micros,
            "top_up_in_days": self.top_up_in_days,
            "words": self.words,
        }


@dataclass(frozen=True, slots=True)
class BudgetRunway:
    """A spend window's limit at the same rate: days until it is used up, and whether that
    comes before the window resets."""

    window: str
    limit_micros: int
    used_micros: int
    rate_micros: int
    days_left: int | None  # None: no recent spend
    before_reset: bool  # it runs out before the window resets (a window that never resets: True)

    @property
    def words(self) -> str:
        label = quota_label(self.window, "spend_micros")
        limit = f"The {label} limit of {usd(self.limit_micros)}"
        if self.days_left is None:
            return f"{limit}: no spend in the last {BASIS_DAYS} days, so there is no forecast."
        if not self.before_reset:
            return f"{limit} lasts until it resets at this rate."
        if self.days_left == 0:
            return f"{limit} runs out within a day at this rate."
        return f"{limit} runs out in {_about(self.days_left)} at this rate."

    def json(self) -> dict[str, object]:
        return {
            "window": self.window,
            "limit_micros": self.limit_micros,
            "used_micros": self.used_micros,
            "days_left": self.days_left,
            "before_reset": self.before_reset,
            "words": self.words,
        }


def budget_runway(
    window: str, limit: int, used: int, rate: int, resets_in_ms: int | None
) -> BudgetRunway:
    """How long a spend window's rest lasts at `rate` a day; `resets_in_ms` None: never."""
    if rate <= 0:
        return BudgetRunway(window, limit, used, rate, None, False)
    days = max(0, limit - used) // rate
    before = resets_in_ms is None or days * 86_400_000 < resets_in_ms  # covers the rest: no
    return BudgetRunway(window, limit, used, rate, days, before)


def daily_rate(days: Sequence[int]) -> int:
    """The faster of the days' average (rounded up) and the last day; 0 without spend."""
    if not days:
        return 0
    spent = [max(0, d) for d in days]
    average = -(-sum(spent) // len(spent))
    return max(average, spent[-1])


def runway(
    now: datetime,
    available_micros: int,
    days: Sequence[int],
    grants: Sequence[Grant] = (),
    top_up: TopUp | None = None,
    commitment: Committed | None = None,
) -> Runway:
    """The runway of `available_micros` at the rate `days` (the last whole days' spend,
    oldest first) give, with `grants` (their remaining money is inside the available
    balance) ending on their dates, and a prepaid `commitment`'s periods."""
    rate = daily_rate(days)
    if rate == 0:
        return Runway(0, len(days), None, 0, None)
    walk = _Walk(available_micros, list(grants), commitment)
    topped: int | None = None
    for day in range(1, HORIZON_DAYS + 1):
        at = now + timedelta(days=day - 1)
        walk.expire(at)
        if walk.refuses(rate):
            return Runway(rate, len(days), day - 1, walk.lost, topped, refused=True)
        if not walk.spend(rate, at):
            return Runway(rate, len(days), day - 1, walk.lost, topped)
        if top_up is not None and topped is None and walk.balance < top_up.threshold_micros:
            topped = day
    return Runway(rate, len(days), None, walk.lost, topped)


class _Walk:
    """The balance and its grants as the days go by."""

    def __init__(self, balance: int, grants: list[Grant], commitment: Committed | None) -> None:
        self.balance = balance
        self.grants = {g.id: g.remaining for g in grants if g.remaining > 0}
        self.ends = {g.id: g for g in grants}
        self.lost = 0
        self.commitment = commitment

    def expire(self, at: datetime) -> None:
        """Grants ended by `at` take their unspent rest out of the balance; so does a
        commitment's period ended by then, and the next one credits its amount."""
        for gid, left in list(self.grants.items()):
            if not self.ends[gid].live_at(at):
                self._lose(left)
                del self.grants[gid]
        c = self.commitment
        while c is not None and c.period_ends_ms <= at.timestamp() * 1000:
            unused = c.committed_left_micros
            rolled = min(unused * c.rollover_bps // BPS, c.rollover_cap_micros)
            self._lose(unused - rolled)
            c = self._next_period(c, rolled)
        self.commitment = c

    def _lose(self, amount: int) -> None:
        gone = min(amount, max(0, self.balance))
        self.balance -= gone
        self.lost += gone

    def _next_period(self, c: Committed, rolled: int) -> Committed | None:
        if c.ends_ms is not None and c.ends_ms <= c.period_ends_ms:
            return None
        self.balance += c.amount_micros  # prepaid: each period's commitment at its open
        ends = period_after(c.period, c.period_ends_ms)
        return replace(c, left_micros=c.amount_micros + rolled,
                       committed_left_micros=c.amount_micros, period_ends_ms=ends)  # fmt: skip

    def refuses(self, amount: int) -> bool:
        """A commitment that refuses calls once used up cannot take a day's spend."""
        return (
            self.commitment is not None
            and self.commitment.refuse
            and (self.commitment.left_micros < amount)
        )

    def spend(self, amount: int, at: datetime) -> bool:
        """A day's spend; False when the balance cannot pay it all."""
        if self.balance < amount:
            return False
        self.balance -= amount
        c = self.commitment
        if c is not None:  # rolled-in money first, then the committed share
            rolled_in = c.left_micros - c.committed_left_micros
            from_committed = max(0, amount - rolled_in)
            self.commitment = replace(
                c,
                left_micros=max(0, c.left_micros - amount),
                committed_left_micros=max(0, c.committed_left_micros - from_committed),
            )
        order = draw_order([_left(self.ends[g], r) for g, r in self.grants.items()], at)
        for grant in order:
            if amount == 0:
                break
            take = min(amount, self.grants[grant.id])
            self.grants[grant.id] -= take
            amount -= take
        return True


def _left(g: Grant, remaining: int) -> Grant:
    return Grant(g.id, g.kind, remaining, g.priority, g.ends_at, g.funded_by)


def runway_words(r: Runway) -> str:
    """The runway as people read it, with its basis, never finer than it knows."""
    if r.rate_micros == 0:
        return f"No spend in the last {r.basis_days} days, so there is no forecast."
    basis = (
        f"At {usd(r.rate_micros)} a day (the higher of the last {r.basis_days} days'"
        " average and the last day)"
    )
    if r.top_up_in_days is not None:
        when = "within a day" if r.top_up_in_days <= 1 else f"in {_about(r.top_up_in_days)}"
        return f"{basis}, the next automatic top-up is due {when}."
    if r.days_left is None:
        return f"{basis}, your credit lasts more than a year."
    if r.refused:
        when = "within a day" if r.days_left == 0 else f"in {_about(r.days_left)}"
        return f"{basis}, your commitment is used up {when}, and calls are refused after."
    lost = f"; {usd(r.lost_micros)} of credit expires unspent first" if r.lost_micros else ""
    if r.days_left == 0:
        return f"{basis}, your credit runs out within a day{lost}."
    return f"{basis}, your credit lasts {_about(r.days_left)}{lost}."


def _about(days: int) -> str:
    """`about N days`, or weeks past two weeks, or months past two months: rounded down."""
    if days < 14:
        return f"about {days} day{'s' if days > 1 else ''}"
    if days < 61:
        return f"about {days // 7} weeks"
    return f"about {days // 30} months"
