"""An account's state as billing.next_step reads it, from what the stores answered.

The account API, the billing API and the dashboard gather the same rows (the ledger's
account, the hot balance, the quota windows, the billing profile) and hand them here, so
the one decision sees the same state whichever surface asks.
"""

from __future__ import annotations

from typing import Any

from billing.next_step import AccountState, FullWindow
from gateway.stores.postgres.payments import Profile
from gateway.stores.records import HotBalance, Row


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
) -> AccountState:
    auto = profile is not None and profile.auto_topup is not None and not profile.auto_off_reason
    return AccountState(
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
