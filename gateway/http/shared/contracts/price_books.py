"""The price books the gateway holds, as the operator's API and console show them: every
version (in force, scheduled, ended) and every dated assignment (billing/pricing/shelf.py)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from billing.pricing.books import Book
from billing.pricing.shelf import BookShelf, Dated


def _iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def _status(shelf: BookShelf, book: Book, now_ms: int) -> str:
    if book.start_ms > now_ms:
        return "scheduled"
    return "in_force" if shelf.book(book.name, now_ms) is book else "ended"


def book_json(shelf: BookShelf, book: Book, now_ms: int) -> dict[str, Any]:
    out = book.to_json()
    out.update(
        status=_status(shelf, book, now_ms),
        effective_at=_iso(book.start_ms),
        until=_iso(book.until_ms),
    )
    return out


def _assigned(kind: str, by: dict[str, Dated]) -> list[dict[str, Any]]:
    return [
        {"kind": kind, "id": subject, "book": name, "effective_at": _iso(at)}
        for subject, dated in sorted(by.items())
        for at, name in dated
    ]


def shelf_json(shelf: BookShelf) -> dict[str, Any]:
    """Every book version, newest last per name, and every assignment, accounts first."""
    now_ms = time.time_ns() // 1_000_000
    books = [
        book_json(shelf, b, now_ms) for name in sorted(shelf.versions) for b in shelf.versions[name]
    ]
    assigned = _assigned("account", shelf.accounts) + _assigned("plan", shelf.plans)
    return {"object": "list", "data": books, "assignments": assigned}
