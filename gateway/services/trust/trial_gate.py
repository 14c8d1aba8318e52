"""Whether a sign-up's trial credit is given: the checks the operator turned on
(SIGNUP_TRIAL_*), run once when the sign-up opens its account, their verdict kept on the
sign-up (`trial_hold`); a card verification that ends a `card` hold; and an operator taking
back the trials of a suspected farm through the grants' own revocation.

Counting is Redis's one atomic counter per name and day (the sign-in form's mechanism), so
racing sign-ups from one network never both pass the limit's last place; a card funds one
trial by a unique index on its fingerprint.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import disposable_email_domains

from billing.members import Address
from billing.trust.trial_checks import Findings, Hold, farms, verdict
from gateway.config.signup import SignupSettings
from gateway.services.members import TRIAL_REASON, Desk, grant_trial
from gateway.services.money.credits import Posted
from gateway.stores.records import Row

DAY_S = 86_400
WITHHELD = "signup.trial_withheld"
FARM_DAYS, FARM_ROWS = 30, 5000  # the sign-ups grouped into suspected farms
Counter = Callable[[str, int], Awaitable[tuple[int, int]]]


@dataclass(frozen=True, slots=True)
class Signals:
    """Where a sign-up came from: its client's network and its device's hash ("" unknown)."""

    network: str
    device: str


def disposable(domain: str) -> bool:
    """A domain on the maintained list of disposable mail services, or under one."""
    parts = domain.split(".")
    return any(".".join(parts[i:]) in disposable_email_domains.blocklist for i in range(len(parts)))


async def _counted(count: Counter, limit: int, name: str, value: str) -> int:
    """This sign-up counted under `name:value` for the day; 0 when the limit is off or
    nothing identifies it."""
    if not (limit and value):
        return 0
    return (await count(f"trial-{name}:{value}", DAY_S))[0]


async def check(
    desk: Desk,
    rules: SignupSettings,
    account_id: str,
    addr: Address,
    seen: Signals,
    count: Counter,
) -> Hold:
    """Run the checks that are on for a sign-up that just opened its account, and keep
    their verdict (and what it came from) on the sign-up. A sign-up whose plan gives no
    trial is held to nothing and counted nowhere (the limits count trials)."""
    if not await _gives_trial(desk, account_id):
        await desk.signups.note(account_id, seen.network, seen.device, "none", None)
        return "none"
    found = Findings(
        disposable=rules.trial_disposable and disposable(addr.domain),
        network_count=await _counted(count, rules.trial_limit_network, "network", seen.network),
        device_count=await _counted(count, rules.trial_limit_device, "device", seen.device),
        network_limit=rules.trial_limit_network,
        device_limit=rules.trial_limit_device,
        card_required=rules.trial_card,
    )
    hold, refused_by = verdict(found)
    await desk.signups.note(account_id, seen.network, seen.device, hold, refused_by)
    if refused_by is not None and hold == "refused":
        shared = {"network": seen.network, "device": seen.device, "disposable": addr.domain}
        await _tell(desk, account_id, refused_by, shared.get(refused_by, ""), seen.network)
    return hold


async def _tell(desk: Desk, account_id: str, check: str, shared: str, network: str) -> None:
    """The operator is told a trial was withheld (`signup.trial_withheld`), once a day per
    check and what it matched (a network, a device, a disposable domain, a card): a farm is
    one notification per thing it shares, not one per sign-up. The person is never told
    which check matched."""
    if desk.outbox is None:
        return
    day = datetime.now(UTC).date().isoformat()
    data = {"check": check, "network": network, "signup_account_id": account_id}
    await desk.outbox.emit(account_id, WITHHELD, data, f"{check}:{shared}:{day}")


async def _gives_trial(desk: Desk, account_id: str) -> bool:
    account = await desk.ledger.get_account(account_id)
    plan = desk.plans.get(account["plan"]) if account else None
    return plan is not None and plan.trial is not None


async def card_verified(desk: Desk, account_id: str, fingerprint: str) -> Posted | None:
    """A card the account verified (a succeeded SetupIntent's card): recorded on its
    sign-up; when its trial waits for a card (or was refused only for a reused one), this
    card funds it unless it funded another sign-up's trial (then the trial is refused).
    The trial posted now, or None."""
    row = await desk.signups.of_account(account_id)
    if row is None:
        return None  # an operator's account: no trial, nothing to group
    waiting = row["trial_hold"] == "card" or (
        row["trial_hold"] == "refused" and row["trial_check"] == "card"
    )  # refused for a reused card only: another card, never used for a trial, may fund it
    funded = await desk.signups.card(account_id, fingerprint, claim=waiting)
    if not waiting:
        return None
    if not funded:
        await _tell(desk, account_id, "card", fingerprint, str(row.get("network") or ""))
    await desk.signups.hold(account_id, "none" if funded else "refused", None if funded else "card")
    if funded and row["status"] == "active":
        return await grant_trial(desk, account_id)
    return None


def suspected(rows: list[Row]) -> list[dict[str, object]]:
    """The sign-ups grouped into suspected farms, each account with its e-mail and trial."""
    by_id = {str(r["account_id"]): r for r in rows}
    linked = [
        {"account_id": r["account_id"], "card": r["card_fingerprint"], "network": r["network"],
         "mailbox": r["address"]}
        for r in rows
    ]  # fmt: skip
    return [
        {
            "object": "suspected_farm",
            "shared": dict(farm.shared),
            "accounts": [_member(by_id[a]) for a in farm.accounts],
        }
        for farm in farms(linked)
    ]


def _member(row: Row) -> dict[str, object]:
    return {
        "account_id": row["account_id"],
        "email": row["email"],
        "status": row["status"],
        "trial": trial_state(row),
        "refused_by": row["trial_check"],
        "created_at": row["created_at"].isoformat(),
    }


def trial_state(row: Row) -> str:
    """given, revoked, waiting_for_card, withheld, unchecked (its checks never ran: no
    trial) or none (waiting for approval, or its plan gives none)."""
    if row["trial_revoked_at"] is not None:
        return "revoked"
    if row["trial_at"] is not None:
        return "given"
    states = {"card": "waiting_for_card", "refused": "withheld", "unchecked": "unchecked"}
    return states.get(str(row["trial_hold"]), "none")


def trial_grants(grants: list[Row]) -> list[Row]:
    """The sign-up trial's grants among an account's (kind `trial`, posted by grant_trial),
    not revoked yet."""
    return [
        g
        for g in grants
        if g["kind"] == "trial" and g["reason"] == TRIAL_REASON and g["revoked_at"] is None
    ]
