"""End users: the people an organization's own product serves through its keys.

A request names its end user (an id the client chose); budgets cap each end user like key
quotas cap a key. The id becomes part of Redis key names, so it is bounded here: at most
MAX_LENGTH characters from a charset without the separators key names and reservation
records use (':' and '|'), nor spaces or control characters. An end-user budget's windows
must expire (minute..month, never total), so ids a hostile client invents cannot pile up
counters that live for ever.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from billing.money.quotas import WINDOWS, Quota, QuotaSpecError, Window, parse_quotas

MAX_LENGTH = 128
END_USER_ID = re.compile(rf"[A-Za-z0-9._~@+=/#-]{{1,{MAX_LENGTH}}}")
# What the reserve script is given for an id outside the bounds: it refuses the request
# only when an end-user budget applies (no budget, nothing to count, nothing refused).
INVALID = "!"
HEADER = "x-meterway-end-user"
EXPIRING_WINDOWS: tuple[Window, ...] = tuple(w for w in WINDOWS if w != "total")


_CHECKED: dict[str, str] = {}  # ids seen, as end_user_id answered (a dict lookup, no regex)
CHECKED_SIZE = 65_536


def end_user_id(value: object) -> str:
    """The id as the reserve script takes it: itself when within bounds, INVALID if not,
    '' for none (an absent or empty value)."""
    if not isinstance(value, str):
        return "" if value is None else INVALID
    seen = _CHECKED.get(value)
    if seen is not None:
        return seen
    answer = value if END_USER_ID.fullmatch(value) else "" if value == "" else INVALID
    if len(_CHECKED) >= CHECKED_SIZE:
        _CHECKED.clear()
    _CHECKED[value] = answer
    return answer


def recorded(end_user: str) -> str:
    """The end user a debit records, of an id as `end_user_id` gave it: itself, or '' for
    none and for one out of bounds (never a client's free text in the ledger)."""
    return "" if end_user == INVALID else end_user


def check_end_user_id(value: object) -> str:
    """An id an operator names (an explicit budget's): refused with the rule when out of
    bounds, since it could never match a request's."""
    if end_user_id(value) in ("", INVALID):
        raise QuotaSpecError(
            f"an end-user id is 1 to {MAX_LENGTH} characters of letters, digits and ._~@+=/#-"
        )
    assert isinstance(value, str)
    return value


def parse_end_user_quotas(objs: object) -> tuple[Quota, ...]:
    """An end-user budget: quotas like a key's, on windows that expire."""
    quotas = parse_quotas(objs)
    _expiring(quotas)
    return quotas


def _expiring(quotas: Sequence[Quota]) -> None:
    if any(q.window not in EXPIRING_WINDOWS for q in quotas):
        raise QuotaSpecError(
            "end-user budgets take windows minute to month, not total: an end user's counters"
            " expire with their window"
        )
