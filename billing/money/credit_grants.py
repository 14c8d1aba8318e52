"""Credit grants: which grants pay for each ledger entry, and what an expiry writes off.

A credit is a grant (an amount, a kind, maybe an expiry, a priority); the balance is what the
grants still hold minus the account's debt (what was spent with no grant left to pay it, a
postpaid account's usual state). Entries are allocated once each, in ledger order, by
`allocate`; every rule keeps `sum(remaining) - debt == balance`:

- money in (a credit, a positive adjustment) first repays debt, the rest stays in its grant;
- money out (a debit, a negative adjustment) draws from grants in `draw_order`, what no
  grant holds becomes debt;
- a refund or a write-off (`expire`) takes from the grant it names; anything beyond that
  grant's rest is drawn like a debit (the money was already spent from that grant).

Pure: no I/O. The ledger adapter loads a book, feeds entries and saves the draws.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

PAID = "paid"
BUILT_IN_KINDS = ("paid", "promotional", "trial")
DEFAULT_PRIORITY = 50  # lower numbers are drawn first, as Stripe's credit grants do
TARGETED = frozenset({"refund", "expire"})  # entries that name the grant they take from


@dataclass(frozen=True, slots=True)
class Grant:
    """A grant as the allocator needs it. `ends_at` is its expiry or revocation, whichever
    is first (None: it never ends); `funded_by` is the ledger entry that brought its money
    (0: an opening balance), so an entry written before it never draws from it."""

    id: int
    kind: str
    remaining: int
    priority: int = DEFAULT_PRIORITY
    ends_at: datetime | None = None
    funded_by: int = 0

    def live_at(self, at: datetime) -> bool:
        return self.ends_at is None or at < self.ends_at


@dataclass(frozen=True, slots=True)
class Entry:
    """A ledger entry to allocate. `grant_id`: a credit's own grant, or the grant a refund
    or a write-off takes from."""

    id: int
    kind: str
    amount: int  # signed micros, as in the ledger
    occurred_at: datetime
    grant_id: int | None = None


@dataclass(frozen=True, slots=True)
class Draw:
    """What `entry_id` took from `grant_id` (None: the account's debt, where a positive
    amount is debt taken on and a negative one debt repaid)."""

    entry_id: int
    grant_id: int | None
    amount: int


@dataclass(slots=True)
class Book:
    """An account's grants that may still matter (by id) and its debt, mutated by
    `allocate`."""

    grants: dict[int, Grant] = field(default_factory=dict)
    debt: int = 0


def draw_order(grants: Iterable[Grant], at: datetime) -> list[Grant]:
    """Grants with money, in the order a debit at `at` spends them: the grants live at `at`
    (non-paid before paid, soonest end first, then lower priority number, then oldest);
    then grants already ended but not yet written off (the write-off follows within seconds
    of the end, or once reservations open across it settle: until then that money is still
    in the balance and a debit may have spent it)."""
    funded = [g for g in grants if g.remaining > 0]
    live = sorted((g for g in funded if g.live_at(at)), key=_rank)
    ended = sorted((g for g in funded if not g.live_at(at)), key=_rank)
    return live + ended


def _rank(g: Grant) -> tuple[bool, bool, datetime | None, int, int]:
    never = g.ends_at is None
    return (g.kind == PAID, never, None if never else g.ends_at, g.priority, g.id)


def split(amount: int, ordered: Sequence[Grant]) -> tuple[list[tuple[int, int]], int]:
    """`amount` (>= 0) taken from grants in order: ([(grant id, taken)], what none covered)."""
    taken: list[tuple[int, int]] = []
    for g in ordered:
        if amount == 0:
            break
        part = min(amount, g.remaining)
        taken.append((g.id, part))
        amount -= part
    return taken, amount


def allocate(book: Book, entry: Entry) -> list[Draw]:
    """Allocate one entry (in ledger order) to the book's grants; returns its draws."""
    if entry.amount > 0:
        return _money_in(book, entry)
    if entry.amount == 0:
        return []
    out = -entry.amount
    draws: list[Draw] = []
    target = book.grants.get(entry.grant_id) if entry.kind in TARGETED and entry.grant_id else None
    if target is not None:
        part = min(out, target.remaining)
        if part:
            draws.append(_take(book, entry.id, target.id, part))
        out -= part
    return draws + _spend(book, entry, out)


def _spend(book: Book, entry: Entry, amount: int) -> list[Draw]:
    before = (g for g in book.grants.values() if g.funded_by < entry.id)
    taken, unfunded = split(amount, draw_order(before, entry.occurred_at))
    draws = [_take(book, entry.id, gid, part) for gid, part in taken]
    if unfunded:
        book.debt += unfunded
        draws.append(Draw(entry.id, None, unfunded))
    return draws


def _take(book: Book, entry_id: int, grant_id: int, amount: int) -> Draw:
    g = book.grants[grant_id]
    book.grants[grant_id] = replace(g, remaining=g.remaining - amount)
    return Draw(entry_id, grant_id, amount)


def _money_in(book: Book, entry: Entry) -> list[Draw]:
    """The entry's grant already holds its amount (made with the credit); it repays debt."""
    if entry.grant_id is None or entry.grant_id not in book.grants:
        raise ValueError(f"ledger entry {entry.id} adds money without a grant")
    repaid = min(book.debt, entry.amount)
    if not repaid:
        return []
    book.debt -= repaid
    return [_take(book, entry.id, entry.grant_id, repaid), Draw(entry.id, None, -repaid)]


def write_off(rest: int, balance: int, held: int) -> int:
    """What an expiry or revocation may write off now: the grant's rest, but never more
    than the balance reservations do not hold (the balance never goes negative through a
    write-off; the rest follows once those reservations settle). hot store's write_off.lua
    applies the same rule atomically."""
    return max(0, min(rest, balance - held))


EXPIRY_NOTICE = timedelta(days=7)  # how long before a grant ends its holder is warned


def ends_soon(expires_at: datetime | None, remaining_micros: int, now: datetime) -> bool:
    """Whether a grant still holding money ends within EXPIRY_NOTICE of `now`: the money
    it holds then is written off, so its holder is told before, not on the day."""
    if expires_at is None or remaining_micros <= 0:
        return False
    return now < expires_at <= now + EXPIRY_NOTICE
