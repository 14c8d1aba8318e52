"""Price books reviewed as price changes: a book change's check, review and install.

A book change is a price change whose document is `{"books": ..., "assign": ...}`
(billing/pricing/books.py): proposed with a diff and a preview (the last PREVIEW_DAYS of the
affected accounts' debits re-priced with and without it), approved as any other, in force
from its effective time. The price desk's clock loads every approved one into the table's
shelf (`PricingTable.books`), with the accounts of each plan a book is assigned to, so a
request finds its account's book with one lookup in process memory.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from billing.money.micros import charge
from billing.money.plans import resolved_markup
from billing.pricing.books import Book, BookChange, BookError, is_book_change, read_book_change
from billing.pricing.changes import AccountPreview, largest_move, row_usage
from billing.pricing.model import ModelPrice
from billing.pricing.shelf import BookShelf, check_chain, idle_rules
from gateway.errors import InvalidRequest, ServiceUnavailable
from gateway.stores.records import Row

if TYPE_CHECKING:
    from billing.money.plans import PlanBook
    from billing.pricing import PricingTable
    from gateway.stores.ports.contracts.books import BooksPort
    from gateway.stores.ports.prices import PriceChangesPort


class PriceDesk(Protocol):
    """What a book's review and install read of the price desk (services/proof/price_changes.py
    holds it and calls in here; this module never imports it: one direction)."""

    table: PricingTable
    plans: PlanBook
    changes: PriceChangesPort
    books: BooksPort | None


PREVIEW_DAYS = 30
PENDING = 0  # the version a proposed book previews as (approved: its change's id)
log = logging.getLogger("meterway.pricing")

Dated = tuple[int, BookChange]


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def approved_changes(rows: Iterable[Row]) -> list[Dated]:
    """The approved book changes among `rows`; one that no longer reads is logged, skipped."""
    out = []
    for row in rows:
        if not is_book_change(row["document"]):
            continue
        at = _ms(row["effective_at"])
        try:
            out.append((at, read_book_change(row["document"], row["id"], at)))
        except BookError as exc:
            log.error("price change %s (a book) cannot be installed: %s", row["id"], exc)
    return out


async def shelf_of(desk: PriceDesk, changes: list[Dated]) -> BookShelf:
    """A shelf holding `changes`, with the accounts of every plan they assign a book to."""
    plans = sorted({p for _, c in changes for p in c.plans})
    plan_of = await _books(desk).plan_accounts(plans) if plans else {}
    shelf = BookShelf()
    shelf.load(changes, plan_of)
    return shelf


def _books(desk: PriceDesk) -> Any:
    if desk.books is None:
        raise ServiceUnavailable("Price books need the ledger.", retry_after_s=5)
    return desk.books


async def install(desk: PriceDesk, rows: Iterable[Row]) -> None:
    """Load every approved book change into the table's shelf (in place, between requests)."""
    changes = approved_changes(rows)
    plans = sorted({p for _, c in changes for p in c.plans})
    plan_of = await _books(desk).plan_accounts(plans) if plans and desk.books else {}
    desk.table.books.load(changes, plan_of)


def _read(document: Mapping[str, Any], at: int) -> BookChange:
    try:
        return read_book_change(document, PENDING, at)
    except BookError as exc:
        raise InvalidRequest(str(exc), param="books") from exc


def check(shelf: BookShelf, change: BookChange, at: int, desk: PriceDesk) -> None:
    """Refuse (InvalidRequest) a change naming a book no one defines, or booking a served
    model's rate inexactly: named, never rounded."""
    named = {n for n in (*change.accounts.values(), *change.plans.values()) if n}
    named |= {b.parent for b in change.books if b.parent}
    for name in sorted(named):
        if not shelf.versions.get(name):
            raise InvalidRequest(
                f"book {name!r} is not defined (define it in 'books').", param="books"
            )
    served = desk.table.served()
    for book in change.books:
        _no_idle_rule(book, served)
    changed = {b.name for b in change.books}
    for name in sorted(shelf.versions):  # the changed books and every book inheriting one
        chain = shelf.chain_of(name, at)
        if not any(b.name in changed for b in chain):
            continue
        try:
            check_chain(chain, served)
        except BookError as exc:
            raise InvalidRequest(str(exc), param="books") from exc


def _no_idle_rule(book: Book, served: list[ModelPrice]) -> None:
    """Refuse a book with a rule that would be shown in force and bill nothing."""
    idle = idle_rules(book, served)
    if idle:
        rule = book.rules[idle[0]]
        raise InvalidRequest(
            f"book {book.tag}: rule {idle[0] + 1} ({rule.describe()}) prices no call: no"
            " served model it names has that rate on its list card, or a more specific rule"
            " of the book always wins. Name a model and dimension it would change.",
            param="books",
        )


async def checked(desk: PriceDesk, document: Mapping[str, Any], effective_at: datetime) -> None:
    """A book change still prices against the table and the approved books (at approval)."""
    at = _ms(effective_at)
    change = _read(document, at)
    changes = approved_changes(await desk.changes.approved())
    shelf = BookShelf()
    shelf.load([*changes, (at, change)], {})
    check(shelf, change, at, desk)


async def review(
    desk: PriceDesk, document: Mapping[str, Any], effective_at: datetime
) -> dict[str, Any]:
    """The change's diff, and the last PREVIEW_DAYS of the affected accounts' debits
    re-priced at the effective time without and with it, at each account's markup now."""
    at = _ms(effective_at)
    change = _read(document, at)
    changes = approved_changes(await desk.changes.approved())
    before = await shelf_of(desk, changes)
    after = await shelf_of(desk, [*changes, (at, change)])
    check(after, change, at, desk)
    accounts = sorted(before.known_accounts() | after.known_accounts())
    since = datetime.now(UTC) - timedelta(days=PREVIEW_DAYS)
    rows = await _books(desk).usage_of(accounts, since) if accounts else []
    owners = await desk.changes.account_markups(accounts) if accounts else {}
    markups = {a: resolved_markup(desk.plans.get(p), own) for a, (p, own) in owners.items()}
    previews = _preview(desk, before, after, rows, markups, at)
    total = [sum(p.before_micros for p in previews), sum(p.after_micros for p in previews)]
    return {
        "diff": diff(before, after, change, at),
        "preview": {
            "days": PREVIEW_DAYS,
            "accounts": [p.to_json() for p in previews],
            "total": {
                "before_micros": total[0],
                "after_micros": total[1],
                "change_micros": total[1] - total[0],
            },
        },
        "largest_move_permille": largest_move(previews),
    }


def _preview(
    desk: PriceDesk,
    before: BookShelf,
    after: BookShelf,
    rows: Iterable[Mapping[str, Any]],
    markups: Mapping[str, int],
    at: int,
) -> list[AccountPreview]:
    totals: dict[str, list[int]] = {}
    for row in rows:
        listed = desk.table.lookup(row["model"])
        if listed is None:
            continue
        account, usage, calls = row["account_id"], row_usage(row), row.get("calls", 1)
        markup = markups.get(account, 0)
        sums = totals.setdefault(account, [0, 0, 0])
        sums[0] += calls
        for i, shelf in ((1, before), (2, after)):
            price = shelf.price_for(account, listed, at)
            sums[i] += charge(price.price(usage, at).numerator, markup) * calls
    return [AccountPreview(a, *totals[a]) for a in sorted(totals)]


def diff(before: BookShelf, after: BookShelf, change: BookChange, at: int) -> list[str]:
    """What the change does, for people: each book as defined, each account moved."""
    lines = []
    for book in change.books:
        was = before.book(book.name, at)
        lines.append(f"{'~' if was else '+'} book {book.name}: {describe(book)}")
        lines += [f"    {rule.describe()}" for rule in book.rules]
    for kind, subjects in (("account", change.accounts), ("plan", change.plans)):
        for subject, name in sorted(subjects.items()):
            old = (before.accounts if kind == "account" else before.plans).get(subject)
            was_name = old[-1][1] if old else None
            lines.append(f"~ {kind} {subject}: book {was_name or 'none'} -> {name or 'none'}")
    return lines


def describe(book: Book) -> str:
    parts = [f"inherits {book.parent}"] if book.parent else []
    if book.adjust_bps is not None:
        parts.append(f"{book.adjust_bps:+d} bps over list for the rest")
    parts.append(f"{len(book.rules)} rules")
    if book.until_ms is not None:
        until = datetime.fromtimestamp(book.until_ms / 1000, UTC).isoformat()
        parts.append(f"until {until}")
    return ", ".join(parts)
