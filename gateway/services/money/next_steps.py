"""An account's state as billing.money.next_step reads it, from what the stores answered.

The account API, the billing API and the dashboard gather the same rows (the ledger's
account, the hot balance, the quota windows, the billing profile) and hand them here, so
the one decision sees the same state whichever surface asks.
"""

from __future__ import annotations

from typing import Any

from billing.money.admission import QuotaRefused
from billing.money.answers import refused_window
from billing.money.next_step import AccountState, FullWindow, refused, standing
from gateway.stores.ports import HotStorePort
from gateway.stores.ports.money.payments import Profile
from gateway.stores.records import AccountFacts, HotBalance, Row


def full_windows(windows: list[dict[str, Any]]) -> tuple[FullWindow, ...]:
    """The windows with nothing left (as `services.usage_view.window_usage` reads them)."""
    return tuple(
        FullWindow(
            w["window"], w["metric"], w["used"], w["limit"], w["resets_at"],
            w.get("level", w["scope"]), name=w.get("name", "") if "level" in w else "",
        )
        for w in windows
        if w["used"] >= w["limit"]
    )  # fmt: skip


def state_of(
    row: Row,
    hot: HotBalance | None,
    windows: list[dict[str, Any]],
    profile: Profile | None,
    low_micros: int,
    refusal: FullWindow | None = None,
) -> AccountState:
    """The account's state; `refusal`, its last refused window (HotStorePort.last_refusal),
    counts as full while the refused call would be refused again, as its 429 counted it."""
    auto = profile is not None and profile.auto_topup is not None and not profile.auto_off_reason
    state = AccountState(
        plan=row["plan"],
        mode=row["mode"],
        billing_ready=bool(row["billing_ready"]),
        in_grace=bool(profile and profile.grace_until),
        available_micros=None if hot is None else hot.available,
        low_micros=low_micros,
        auto_topup=auto and bool(profile and profile.method_on_file),
        full=full_windows(windows),
        pending_approval=row.get("signup_status") == "pending",
    )
    stands = _standing(refusal, windows) if refusal is not None else None
    return state if stands is None else refused(state, stands)


def _standing(refusal: FullWindow, windows: list[dict[str, Any]]) -> FullWindow | None:
    for w in windows:
        level = w.get("level", w["scope"])
        if (w["window"], w["metric"], level) == (refusal.window, refusal.metric, "account"):
            return standing(refusal, w["used"], w["limit"], w["resets_at"])
    return None  # the plan has no such window now


def facts_state(plan: str, facts: AccountFacts) -> AccountState:
    """The account's state as a 429 reads it from Redis (`note_refusal`): what `state_of`
    reads, but the low-balance line and auto top-up, which only matter to an account with
    no full window (a 429 always has one)."""
    return AccountState(
        plan=plan,
        mode=facts.mode,
        billing_ready=facts.billing_ready,
        in_grace=facts.in_grace,
        available_micros=facts.available_micros,
        pending_approval=facts.pending,
    )


async def refusal_state(store: HotStorePort, refusal: QuotaRefused) -> AccountState | None:
    """A 429's account facts, its refused window remembered for `billing status` and the
    dashboard (`state_of`'s `refusal`). Only an account's own window: a key's, a team's or
    an end user's refusal is about that key, and decides from its plan alone (None)."""
    if refusal.scope != "account":
        return None
    facts = await store.note_refusal(refusal.scope_id, refused_window(refusal), refusal.now_ms)
    return None if facts is None else facts_state(refusal.plan, facts)
