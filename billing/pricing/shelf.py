"""The process's price books, and an account's prices under its book: one dict lookup.

The shelf holds every approved book version and assignment (billing/pricing/books.py), and
the plan of each account on a plan that has a book, all loaded off the request path by the
price desk's clock. An account's book is its own assignment's, else its plan's, else none
(the list card); the book in force is its latest version started by then, unless ended.

A booked price is a `ModelPrice` whose cards carry the book's rates and which keeps its list
price (`listed`): a call is reserved and charged at the book's cards, its provider cost is
the list card's. Booked prices are kept per (chain, list price), so a request costs a lookup.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from billing.money.micros import BPS
from billing.pricing.books import Book, BookChange, BookError, Rule, dimension_of
from billing.pricing.card import RateCard, compile_band
from billing.pricing.model import Deployment, ModelPrice, Period
from billing.pricing.units import BY_PRICE

Chain = tuple[Book, ...]  # the book, then its parent, ... (child first)
KEPT = 4096  # booked prices kept; a full memo starts over
Dated = list[tuple[int, str | None]]  # (from ms, book name or None), by start


@dataclass(frozen=True, slots=True)
class Source:
    """What priced one dimension under a chain: the book and its rule, or its default."""

    book: Book | None  # None: the list rate
    rule: Rule | None  # None: the book's adjust_bps (or the list rate)
    adjust_bps: int = 0

    def describe(self) -> str:
        if self.book is None:
            return "list rate"
        said = self.rule.describe() if self.rule else f"default {self.adjust_bps:+d} bps over list"
        return f"book {self.book.tag}: {said}"


def source(chain: Chain, model: str, price_key: str) -> Source:
    """The rule of `chain` pricing `price_key` of `model`: the most specific rule of the
    nearest book that has one, else the nearest book's `adjust_bps`, else the list rate."""
    dimension = dimension_of(price_key)
    for book in chain:
        rule = book.best(model, dimension)
        if rule is not None:
            return Source(book, rule, rule.adjust_bps)
    for book in chain:
        if book.adjust_bps is not None:
            return Source(book, None, book.adjust_bps)
    return Source(None, None)


def booked_rate(chain: Chain, model: str, price_key: str, listed: int) -> int:
    """The whole booked rate of one price key, or BookError naming book, model, dimension."""
    found = source(chain, model, price_key)
    if found.rule is not None and found.rule.rate is not None:
        return found.rule.rate
    scaled = listed * (BPS + found.adjust_bps)
    if scaled % BPS:
        raise BookError(
            f"book {found.book.tag if found.book else '?'}: {model} {dimension_of(price_key)}"
            f" at {found.adjust_bps:+d} bps over the list rate of {listed} micro-USD per"
            f" {BY_PRICE[price_key].per} is not a whole micro-dollar"
        )
    return scaled // BPS


def book_card(chain: Chain, model: str, card: RateCard) -> RateCard:
    """`card` under the chain: every band's rates booked, compiled as a card is."""
    bands = tuple(
        compile_band(
            band.above, {k: booked_rate(chain, model, k, r) for k, r in band.rates.items()}
        )
        for band in card.bands
    )
    return RateCard(f"{card.version}~{chain[0].tag}", bands, card.meta)


def book_price(chain: Chain, price: ModelPrice) -> ModelPrice:
    """`price` under the chain: its cards booked, its deployments too; it keeps the list."""
    periods = tuple(
        Period(
            p.start_ms,
            p.minute_starts,
            tuple(
                {t: book_card(chain, price.name, c) for t, c in seg.items()} for seg in p.segments
            ),
        )
        for p in price.periods
    )
    deployments = tuple(Deployment(book_price(chain, d.price), d.weight) for d in price.deployments)
    tag = ",".join(b.tag for b in chain)
    return replace(price, periods=periods, deployments=deployments, listed=price, book=tag)


def _at(dated: Dated | None, at_ms: int) -> tuple[bool, str | None]:
    """(whether any assignment is in force, its book name)."""
    found: tuple[bool, str | None] = (False, None)
    for start, name in dated or ():
        if start > at_ms:
            break
        found = (True, name)
    return found


@dataclass
class BookShelf:
    """Every approved book and assignment; replaced whole by `load`, read per request."""

    versions: dict[str, list[Book]] = field(default_factory=dict)
    accounts: dict[str, Dated] = field(default_factory=dict)
    plans: dict[str, Dated] = field(default_factory=dict)
    plan_of: dict[str, str] = field(default_factory=dict)  # accounts on a booked plan
    _memo: dict[tuple[tuple[str, ...], int], tuple[ModelPrice, ModelPrice]] = field(
        default_factory=dict, repr=False
    )
    _loaded: tuple[list[tuple[int, BookChange]], dict[str, str]] | None = field(
        default=None, repr=False
    )

    def load(self, changes: Iterable[tuple[int, BookChange]], plan_of: Mapping[str, str]) -> None:
        """Hold these changes (effective ms, change), in effective order, from now on; the
        same changes again (the clock's every tick) keep the booked prices already made."""
        changes = sorted(changes, key=lambda c: c[0])
        loaded = (changes, dict(plan_of))
        if loaded == self._loaded:
            return
        self._loaded = loaded
        versions: dict[str, list[Book]] = {}
        accounts: dict[str, Dated] = {}
        plans: dict[str, Dated] = {}
        for at, change in changes:
            for book in change.books:
                versions.setdefault(book.name, []).append(book)
            for subject, name in change.accounts.items():
                accounts.setdefault(subject, []).append((at, name))
            for subject, name in change.plans.items():
                plans.setdefault(subject, []).append((at, name))
        self.versions, self.accounts, self.plans = versions, accounts, plans
        self.plan_of = dict(plan_of)
        self._memo.clear()

    def book(self, name: str, at_ms: int) -> Book | None:
        """The version of `name` in force at `at_ms`: its latest begun, unless it ended."""
        found = None
        for book in self.versions.get(name, ()):
            if book.start_ms <= at_ms:
                found = book
        return found if found is not None and found.in_force(at_ms) else None

    def chain_of(self, name: str | None, at_ms: int) -> Chain:
        """The book named and its parents in force at `at_ms` (a cycle stops at itself)."""
        chain: list[Book] = []
        while name and all(b.name != name for b in chain):
            book = self.book(name, at_ms)
            if book is None:
                break
            chain.append(book)
            name = book.parent
        return tuple(chain)

    def name_for(self, account_id: str, at_ms: int) -> str | None:
        """The account's book: its own assignment's, else its plan's, else None."""
        assigned, name = _at(self.accounts.get(account_id), at_ms)
        if assigned and name is not None:
            return name
        plan = self.plan_of.get(account_id)
        return _at(self.plans.get(plan), at_ms)[1] if plan else None

    def chain(self, account_id: str, at_ms: int) -> Chain:
        if not self.accounts and not self.plans:
            return ()
        return self.chain_of(self.name_for(account_id, at_ms), at_ms)

    def price_for(self, account_id: str, price: ModelPrice, at_ms: int) -> ModelPrice:
        """`price` as `account_id` pays it at `at_ms`; the list price itself where no book
        reaches the model (nothing of it differs from the list)."""
        chain = self.chain(account_id, at_ms)
        if not chain:
            return price
        key = (tuple(b.tag for b in chain), id(price))
        kept = self._memo.get(key)
        if kept is not None and kept[0] is price:
            return kept[1]
        booked = book_price(chain, price) if _reaches(chain, price.name) else price
        if len(self._memo) >= KEPT:
            self._memo.clear()
        self._memo[key] = (price, booked)
        return booked

    def known_accounts(self) -> set[str]:
        """Accounts any assignment names, directly or by their plan."""
        return set(self.accounts) | set(self.plan_of)

    def in_force(self, at_ms: int) -> list[Book]:
        return [b for name in sorted(self.versions) if (b := self.book(name, at_ms)) is not None]

    def scheduled(self, at_ms: int) -> list[Book]:
        return [b for books in self.versions.values() for b in books if b.start_ms > at_ms]


def chain_of_tags(tags: str, books: Mapping[str, Book]) -> Chain:
    """The chain a debit recorded (`usage_detail.book`: `name@version,...`), from its books."""
    return tuple(books[t] for t in tags.split(",") if t in books)


def check_chain(chain: Chain, prices: Iterable[ModelPrice]) -> None:
    """Raise BookError naming the first rate of `prices` the chain cannot book exactly."""
    for price in prices:
        if _reaches(chain, price.name):
            book_price(chain, price)


def idle_rules(book: Book, prices: Iterable[ModelPrice]) -> list[int]:
    """The positions of `book`'s rules that price no rate of `prices`: one naming a model
    nobody serves, a dimension its models' list cards lack (a per-call fee on a model with
    none), or one a more specific rule of the book always beats. Shown in force, such a
    rule would bill nothing (docs/guides/price-books.md)."""
    used: set[int] = set()
    for name, key in _rates(prices):
        rule = book.best(name, dimension_of(key))
        if rule is not None:
            used.add(id(rule))
    return [i for i, rule in enumerate(book.rules) if id(rule) not in used]


def _rates(prices: Iterable[ModelPrice]) -> set[tuple[str, str]]:
    """Every (model, price key) a list card of `prices` or of their deployments has."""
    found: set[tuple[str, str]] = set()
    for price in prices:
        found |= {
            (price.name, key)
            for period in price.periods
            for segment in period.segments
            for card in segment.values()
            for band in card.bands
            for key in band.rates
        }
        found |= _rates(d.price for d in price.deployments)
    return found


def _reaches(chain: Chain, model: str) -> bool:
    if any(b.adjust_bps for b in chain):
        return True
    return any(r.rank(model) >= 0 for b in chain for r in b.rules)


__all__ = ["BookError", "BookShelf", "Source", "book_price", "idle_rules", "source"]
