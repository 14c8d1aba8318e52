"""Price books: a customer's own prices over the list card (docs/guides/price-books.md).

A book names rules and a default: a rule prices one dimension (a pricing.toml rate word:
`input`, `cached_input`, `cache_write`, `output`, `output_audio`, `request`...) or every
dimension of one model or one family, at a rate of its own (USD, in pricing.toml's units) or
at the list rate adjusted by `adjust_bps` (-2000 is 20% off, 1500 a 15% markup). A family is
a model-name prefix ending at a dash (`gpt-4o` holds `gpt-4o` and `gpt-4o-mini`); the longest
matching family wins. A book may name a parent: per model and dimension, the child's most
specific rule wins, else the parent's (and so on up), else the nearest `adjust_bps` set by a
book of the chain, else the list rate.

Every booked rate is a whole micro-dollar per its unit's `per`, or the book is refused,
naming the book, the model and the dimension: nothing is rounded.

A book arrives as a price change (`{"books": {...}, "assign": {...}}`), reviewed and dated as
any other; its version is the id of the change that defined it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from billing.money.micros import BPS, MoneyFormatError, parse_usd
from billing.names import one_of
from billing.pricing.errors import PricingError
from billing.pricing.operator import CALL_RATES, TOKEN_RATES, UNIT_RATES
from billing.pricing.units import BY_PRICE

IMAGES = "images"
# Each rate word and (the price key it sets, micro-USD per `per` for one micro-USD per word).
DIMENSIONS: dict[str, tuple[str, int]] = {
    **{word: (key, 1) for word, key in TOKEN_RATES.items()},
    **{word: (key, 1000) for word, key in CALL_RATES.items()},
    **{word: (key, factor) for word, (key, factor) in UNIT_RATES.items()},
}
WORD_OF = {key: word for word, (key, _) in DIMENSIONS.items()}
MAX_BPS = 100_000  # a book may charge up to 11x list; never below zero
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.")
BOOK_FIELDS = frozenset({"parent", "adjust_bps", "until_ms", "rules", "note"})
RULE_FIELDS = frozenset({"model", "family", "dimension", "rate", "adjust_bps"})


class BookError(PricingError):
    """A book that cannot price exactly, or is not a book: the message names what."""


def dimension_of(price_key: str) -> str:
    """The rate word a book names a price key by (`images` for every per-image price)."""
    if BY_PRICE[price_key].get("family") == IMAGES:
        return IMAGES
    return WORD_OF.get(price_key, price_key)


def family_matches(family: str, model: str) -> bool:
    """`model` (without any `provider/` prefix) is `family` or starts with `family-`."""
    bare = model.rsplit("/", 1)[-1]
    return bare == family or bare.startswith(family + "-")


@dataclass(frozen=True, slots=True)
class Rule:
    """One model's or one family's price for one dimension (or all: `dimension` '')."""

    model: str = ""
    family: str = ""
    dimension: str = ""
    rate: int | None = None  # micro-USD per the dimension's price key `per`
    adjust_bps: int = 0

    def rank(self, model: str) -> int:
        """How specific a match this rule is for `model` (-1: none); higher wins."""
        if self.model:
            hit, weight = self.model == model, 10_000
        else:
            hit, weight = family_matches(self.family, model), len(self.family)
        if not hit:
            return -1
        return weight * 2 + (1 if self.dimension else 0)

    def covers(self, dimension: str) -> bool:
        return self.dimension in ("", dimension)

    def describe(self) -> str:
        scope = f"model {self.model}" if self.model else f"family {self.family}"
        what = self.dimension or "every dimension"
        if self.rate is not None:
            return f"{scope}, {what}: rate {self.rate} micro-USD per unit's per"
        return f"{scope}, {what}: {self.adjust_bps:+d} bps over list"


@dataclass(frozen=True, slots=True)
class Book:
    """One version of a book, in force from `start_ms` until `until_ms` (None: open)."""

    name: str
    version: int  # the price change that defined it
    start_ms: int
    parent: str = ""
    adjust_bps: int | None = None  # over list, for what no rule of the chain prices
    rules: tuple[Rule, ...] = ()
    until_ms: int | None = None
    note: str = ""

    @property
    def tag(self) -> str:
        return f"{self.name}@{self.version}"

    def in_force(self, at_ms: int) -> bool:
        return self.start_ms <= at_ms and (self.until_ms is None or at_ms < self.until_ms)

    def best(self, model: str, dimension: str) -> Rule | None:
        """This book's most specific rule for `model` and `dimension`, if any."""
        found, best_rank = None, -1
        for rule in self.rules:
            rank = rule.rank(model) if rule.covers(dimension) else -1
            if rank > best_rank:
                found, best_rank = rule, rank
        return found

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "parent": self.parent or None,
            "adjust_bps": self.adjust_bps,
            "start_ms": self.start_ms,
            "until_ms": self.until_ms,
            "note": self.note,
            "rules": [_rule_json(r) for r in self.rules],
        }


def _rule_json(rule: Rule) -> dict[str, Any]:
    out: dict[str, Any] = {"model": rule.model} if rule.model else {"family": rule.family}
    if rule.dimension:
        out["dimension"] = rule.dimension
    if rule.rate is not None:
        out["rate_micros_per_unit"] = rule.rate
    else:
        out["adjust_bps"] = rule.adjust_bps
    return out


def _bps(raw: object, where: str) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool) or not -BPS < raw <= MAX_BPS:
        raise BookError(
            f"{where}: adjust_bps must be a whole number above -10000, at most {MAX_BPS}"
        )
    return raw


def _name(raw: object, where: str) -> str:
    if not isinstance(raw, str) or not 0 < len(raw) <= 64 or set(raw) - NAME_CHARS:
        raise BookError(f"{where}: a name is 1 to 64 of a-z, 0-9, '-', '_', '.'")
    return raw


def _rate(raw: object, dimension: str, where: str) -> int:
    if dimension not in DIMENSIONS:
        raise BookError(f"{where}: a rate names one dimension of {sorted(DIMENSIONS)}")
    try:
        usd = parse_usd(raw)
    except MoneyFormatError as exc:
        raise BookError(f"{where}: rate {exc}") from exc
    if usd < 0:
        raise BookError(f"{where}: rate is negative")
    return usd * DIMENSIONS[dimension][1]


def read_rule(raw: object, where: str) -> Rule:
    """One rule of a book's document; BookError names what is wrong with it."""
    if not isinstance(raw, dict) or set(raw) - RULE_FIELDS:
        raise BookError(f"{where}: a rule is a table of {sorted(RULE_FIELDS)}")
    model, family = raw.get("model", ""), raw.get("family", "")
    if bool(model) == bool(family) or not isinstance(model, str) or not isinstance(family, str):
        raise BookError(f"{where}: a rule names a model or a family, not both")
    if len(model) > 200 or len(family) > 200 or "\x00" in model + family:
        raise BookError(f"{where}: a model or family name is at most 200 characters")
    dimension = raw.get("dimension", "")
    if not isinstance(dimension, str) or not (
        dimension == "" or one_of(dimension, DIMENSIONS) or dimension == IMAGES
    ):
        raise BookError(f"{where}: dimension {dimension!r} is none of {sorted(DIMENSIONS)}")
    if ("rate" in raw) == ("adjust_bps" in raw):
        raise BookError(f"{where}: a rule sets a rate or an adjust_bps, one of them")
    if "rate" in raw:
        return Rule(model, family, dimension, rate=_rate(raw["rate"], dimension, where))
    return Rule(model, family, dimension, adjust_bps=_bps(raw["adjust_bps"], where))


def read_book(name: object, raw: object, version: int, start_ms: int) -> Book:
    """One book of a change's document, in force from the change's effective time."""
    where = f"book {name!r}"
    book_name = _name(name, where)
    if not isinstance(raw, dict) or set(raw) - BOOK_FIELDS:
        raise BookError(f"{where}: a book is a table of {sorted(BOOK_FIELDS)}")
    rules = raw.get("rules", [])
    if not isinstance(rules, list) or len(rules) > 500:
        raise BookError(f"{where}: rules is a list of at most 500 rules")
    parent = raw.get("parent") or ""
    if parent:
        parent = _name(parent, f"{where}: parent")
    until = raw.get("until_ms")
    if until is not None and (not isinstance(until, int) or until <= start_ms):
        raise BookError(f"{where}: until_ms is a time (ms) after the change's effective time")
    note = raw.get("note", "")
    if not isinstance(note, str) or len(note) > 500 or "\x00" in note:
        raise BookError(f"{where}: note is a text of at most 500 characters")
    adjust = raw.get("adjust_bps")
    return Book(
        book_name,
        version,
        start_ms,
        parent,
        None if adjust is None else _bps(adjust, where),
        tuple(read_rule(r, f"{where} rule {i + 1}") for i, r in enumerate(rules)),
        until,
        note,
    )


@dataclass(frozen=True, slots=True)
class BookChange:
    """A change's books and assignments (subject -> book name, None: no book of its own)."""

    books: tuple[Book, ...]
    accounts: Mapping[str, str | None]
    plans: Mapping[str, str | None]


def is_book_change(document: object) -> bool:
    """A price change that changes books, not model rates."""
    return isinstance(document, dict) and bool(document.keys() & {"books", "assign"})


def read_book_change(document: object, version: int, start_ms: int) -> BookChange:
    """A book change's document: `{"books": {NAME: {...}}, "assign": {"accounts": {ID:
    NAME|null|""}, "plans": {PLAN: NAME|null|""}}}`; BookError names what is wrong."""
    if not isinstance(document, dict) or document.keys() - {"books", "assign"}:
        raise BookError('a book change is {"books": {...}, "assign": {...}}')
    books = document.get("books", {})
    assign = document.get("assign", {})
    if not isinstance(books, dict) or not isinstance(assign, dict):
        raise BookError("books and assign are tables")
    if assign.keys() - {"accounts", "plans"} or not (books or assign):
        raise BookError('assign is {"accounts": {...}, "plans": {...}}; a change names something')
    read = tuple(read_book(n, b, version, start_ms) for n, b in sorted(books.items()))
    return BookChange(read, _assigned(assign, "accounts"), _assigned(assign, "plans"))


def _assigned(assign: Mapping[str, Any], kind: str) -> dict[str, str | None]:
    raw = assign.get(kind, {})
    if not isinstance(raw, dict):
        raise BookError(f"assign.{kind} is a table of id -> book name (or null)")
    out: dict[str, str | None] = {}
    for subject, book in raw.items():
        if not 0 < len(subject) <= 200 or "\x00" in subject:
            raise BookError(f"assign.{kind}: an id is 1 to 200 characters")
        # null (JSON) or "" (TOML has no null): no book of its own
        none = book is None or book == ""
        out[subject] = None if none else _name(book, f"assign.{kind}.{subject}")
    return out
