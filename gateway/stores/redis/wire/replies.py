# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""The reserve script's reply, decoded into billing's decision types.

reserve.lua answers with a flat array (see its header): `{1, now, req limit, remaining,
reset, tok limit, remaining, reset, plan, markup bps, BYOK version}` when admitted, else
`{0, reason, ...}`.
Only this module reads that layout; billing/money/admission.py keeps the pure decisions. The
script held the spend marked up by the account's markup (`marked_up`, the same integers), so
an admitted call's `held_micros` is that amount, not the worst case the gateway asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

from billing.money.admission import (
    Admitted,
    BalanceRefused,
    Decision,
    DuplicateRequest,
    EndUserInvalid,
    EndUsersFull,
    KeyRefused,
    NotReady,
    QuotaRefused,
    RateWindow,
)
from billing.money.micros import marked_up
from billing.money.quotas import WINDOW_BY_CODE, metric_of_code
from gateway.stores.records import KeyRecord


def _window(limit: int, remaining: int, reset: int) -> RateWindow | None:
    return None if limit < 0 else RateWindow(limit, max(0, remaining), reset)


def _admitted(reply: list[object], request_id: str, key: KeyRecord, held: int) -> Admitted:
    """Read from the raw reply (every request is admitted this way): `int()` takes Redis's
    integers and the digits of a bulk string alike, and only the plan is text."""
    n = [int(v) for v in reply[1:8]]  # type: ignore[call-overload]
    plan = reply[8]
    markup = int(reply[9]) if len(reply) > 9 else 0  # type: ignore[call-overload]
    byok = int(reply[10]) if len(reply) > 10 else 0  # type: ignore[call-overload]
    return Admitted(
        request_id,
        key.account_id,
        key.key_id,
        key.shard,
        marked_up(held, markup) if markup else held,
        n[0],
        _window(n[1], n[2], n[3]),
        _window(n[4], n[5], n[6]),
        plan.decode() if isinstance(plan, bytes) else str(plan),
        markup,
        byok,
    )


SCOPES = {"k": "key", "a": "account", "u": "end_user", "t": "team"}


def _quota(values: list[object]) -> QuotaRefused:
    scope, window, metric = str(values[2]), str(values[3]), str(values[4])
    limit, used, requested, reset = (int(str(v)) for v in values[5:9])
    return QuotaRefused(
        SCOPES[scope],
        WINDOW_BY_CODE[window],
        metric_of_code(metric),
        limit,
        used,
        requested,
        None if reset < 0 else reset,
        str(values[9]),
        int(str(values[10])),
        str(values[11]) if len(values) > 11 else "",
    )


def decode_reserve_reply(
    reply: list[object], request_id: str, key: KeyRecord, held: int
) -> Decision:
    """Turn the reserve script's flat reply into a typed decision."""
    if reply[0] == 1:
        return _admitted(reply, request_id, key, held)
    values = [v.decode() if isinstance(v, bytes) else v for v in reply]
    reason = str(values[1])
    if reason == "quota":
        return _quota(values)
    if reason == "balance":
        markup = int(str(values[5])) if len(values) > 5 else 0
        return BalanceRefused(str(values[2]), int(str(values[3])), str(values[4]), markup)
    if reason == "not_ready":
        return NotReady()
    if reason == "duplicate":
        return DuplicateRequest(request_id)
    if reason == "end_user_invalid":
        return EndUserInvalid()
    if reason == "end_users_full":
        return EndUsersFull(int(str(values[2])), str(values[3]), int(str(values[4])))
    return KeyRefused(reason)


@dataclass(frozen=True, slots=True)
class Specs:
    """What an `undeclared` reply tells: Redis's clock and the quota specs it holds now."""

    now_ms: int
    key: str
    account: str
    key_end_user: str  # the key's default end-user budget
    account_end_user: str  # the account's default end-user budget
    end_user: str  # the request's end user's own budget ('' for none)
    team: str = ""  # the key's team ('' for none)
    team_quotas: str = ""  # the team's spec, as copied to the key's hash
    ancestors: str = ""  # the keys it was minted under: `id=spec,...` (`?`: not read)


def undeclared(reply: list[object]) -> Specs | None:
    """The specs Redis holds when the script met a counter not in KEYS, else None."""
    if reply[0] != 0 or len(reply) not in (10, 11):
        return None
    values = [v.decode() if isinstance(v, bytes) else str(v) for v in reply[1:]]
    if values[0] != "undeclared":
        return None
    return Specs(int(values[1]), *values[2:10])
