"""An account's own markup in force at a time, said once in SQL for every statement that asks.

`next_markup_bps` once `next_markup_at` has come (the hot record switches at that instant;
the price desk's clock folds it into `markup_bps` later), else `markup_bps`. NULL: the account
follows its plan's markup (migrations 101 and 105).
"""

from __future__ import annotations


def own_markup_at(when: str, table: str = "") -> str:
    """The SQL expression, at `when` (`now()`, a parameter), of `table`'s columns."""
    of = f"{table}." if table else ""
    return (
        f"(CASE WHEN {of}next_markup_at <= {when} THEN {of}next_markup_bps ELSE {of}markup_bps END)"
    )
