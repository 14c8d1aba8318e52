"""The credit grant rules (billing/money/credit_grants.py), no server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billing.money.credit_grants import (
    Book,
    Draw,
    Entry,
    Grant,
    allocate,
    draw_order,
    split,
    write_off,
)

T0 = datetime(2026, 11, 15, 12, tzinfo=UTC)


def _book(*grants: Grant, debt: int = 0) -> Book:
    return Book({g.id: g for g in grants}, debt)


def test_draw_order_puts_non_paid_first_soonest_end_then_priority_then_oldest() -> None:
    paid = Grant(1, "paid", 10)
    late = Grant(2, "promotional", 10, ends_at=T0 + timedelta(days=9))
    soon = Grant(3, "trial", 10, ends_at=T0 + timedelta(days=2))
    urgent = Grant(4, "promotional", 10, priority=5, ends_at=T0 + timedelta(days=9))
    never = Grant(5, "goodwill", 10)
    ended = Grant(6, "promotional", 10, ends_at=T0 - timedelta(hours=1))
    empty = Grant(7, "trial", 0, ends_at=T0 + timedelta(days=1))
    order = draw_order([paid, late, soon, urgent, never, ended, empty], T0)
    assert [g.id for g in order] == [3, 4, 2, 5, 1, 6]


def test_split_takes_in_order_and_reports_what_none_covered() -> None:
    grants = [Grant(1, "trial", 3), Grant(2, "paid", 4)]
    assert split(5, grants) == ([(1, 3), (2, 2)], 0)
    assert split(9, grants) == ([(1, 3), (2, 4)], 2)


def test_a_debit_beyond_every_grant_becomes_debt_and_money_in_repays_it() -> None:
    book = _book(Grant(1, "paid", 5))
    assert allocate(book, Entry(10, "debit", -8, T0)) == [Draw(10, 1, 5), Draw(10, None, 3)]
    assert book.debt == 3
    book.grants[2] = Grant(2, "paid", 10, funded_by=11)
    assert allocate(book, Entry(11, "credit", 10, T0, grant_id=2)) == [
        Draw(11, 2, 3),
        Draw(11, None, -3),
    ]
    assert (book.grants[2].remaining, book.debt) == (7, 0)


def test_an_entry_never_draws_from_a_grant_funded_after_it() -> None:
    book = _book(Grant(1, "paid", 10, funded_by=20))
    assert allocate(book, Entry(15, "debit", -4, T0)) == [Draw(15, None, 4)]


def test_a_refund_takes_from_its_grant_then_in_draw_order() -> None:
    book = _book(Grant(1, "paid", 2), Grant(2, "paid", 10))
    assert allocate(book, Entry(9, "refund", -5, T0, grant_id=1)) == [
        Draw(9, 1, 2),
        Draw(9, 2, 3),
    ]


def test_a_write_off_takes_from_the_grant_it_names_only() -> None:
    book = _book(Grant(1, "trial", 6, ends_at=T0), Grant(2, "promotional", 10))
    assert allocate(book, Entry(9, "expire", -6, T0, grant_id=1)) == [Draw(9, 1, 6)]
    assert book.grants[2].remaining == 10


def test_an_ended_grant_is_drawn_only_after_the_live_ones() -> None:
    book = _book(Grant(1, "trial", 6, ends_at=T0), Grant(2, "paid", 3))
    assert allocate(book, Entry(9, "debit", -5, T0 + timedelta(seconds=1))) == [
        Draw(9, 2, 3),
        Draw(9, 1, 2),
    ]


def test_money_in_without_its_grant_is_refused() -> None:
    with pytest.raises(ValueError, match="without a grant"):
        allocate(_book(), Entry(9, "credit", 5, T0))


@pytest.mark.parametrize(
    ("rest", "balance", "held", "expected"),
    [(300, 1_000, 0, 300), (300, 500, 400, 100), (300, 400, 400, 0), (300, -5, 0, 0)],
)
def test_a_write_off_never_takes_what_reservations_hold(
    rest: int, balance: int, held: int, expected: int
) -> None:
    assert write_off(rest, balance, held) == expected
