"""The notifier: evaluates accounts' alerts off the request path and delivers the outbox.

Evaluation reads what the hot store says now (available balance, every quota window of the
account) for accounts with new ledger activity or an active alert, and records each
crossing with its outbox row in one transaction. Delivery sends due outbox rows to every
configured sender and retries failures with a growing backoff; a row nobody can receive
(no address to write to) is recorded once as undeliverable and left.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from billing.trust.alerts import (
    Check,
    Window,
    account_checks,
    runway_check,
    transitions,
    user_checks,
)
from billing.trust.runway import Runway
from billing.usage.exports import retry_delay_s
from gateway.outbound.notify import Sender, Undeliverable
from gateway.stores.ports import AccountAlertsPort, HotStorePort, NotifyLedgerPort
from gateway.stores.ports.hot import shard_of
from gateway.stores.records import Row

log = logging.getLogger("meterway.notifier")
# An account's runway from its id and available balance; None when it has none (postpaid).
RunwayOf = Callable[[str, int], Awaitable[Runway | None]]


async def evaluate_once(
    store: HotStorePort,
    ledger: NotifyLedgerPort,
    default_low: int,
    personal: AccountAlertsPort | None = None,
    *,
    operator: bool = True,
    runway: RunwayOf | None = None,
    runway_days: int = 0,
) -> int:
    """Check every account due a check; returns how many alerts moved. `operator`: the
    operator's alerts (off when no webhook or e-mail is configured for them); `personal`:
    the alerts people set on their own accounts; `runway` (with `runway_days` > 0): a
    prepaid account's runway, for balance.runway."""
    # A process without the operator's targets reads its own cursor: it must not move past
    # activity a process with them has not checked (configurations differ in a rollout).
    name = "notifier" if operator else "notifier-people"
    accounts, cursor = await ledger.accounts_to_check(name)
    thresholds = await ledger.thresholds(accounts) if operator else {}
    own = await personal.of_accounts(accounts) if personal is not None else {}
    moved = 0
    for account_id in accounts:
        hot = await store.money(account_id)
        if hot is None:
            continue
        checks = []
        if operator:
            low = thresholds.get(account_id, default_low)
            checks += account_checks(hot.available, low, await _windows(store, account_id))
            if runway is not None and runway_days > 0:
                checks += await _runway(runway, account_id, hot.available, runway_days)
        if personal is not None and own.get(account_id):
            spend = await personal.spend(account_id, datetime.now(UTC).date())
            checks += user_checks(own[account_id], hot.available, spend)
        changes = transitions(checks, await ledger.active(account_id))
        if changes:
            await ledger.apply(account_id, changes)
            moved += len(changes)
    await ledger.save_cursor(cursor, name)
    return moved


async def _runway(runway: RunwayOf, account_id: str, available: int, days: int) -> list[Check]:
    found = await runway(account_id, available)
    if found is None:  # postpaid: billed for its use, no credit runs out
        return []
    return [runway_check(found.days_left, found.rate_micros, days, found.words)]


async def _windows(store: HotStorePort, account_id: str) -> list[Window]:
    quotas = await store.account_quotas(account_id)
    counts = await store.window_counts(shard_of(account_id), "a", account_id, quotas)
    return [
        Window(q.window, q.metric, c.used, q.limit) for q, c in zip(quotas, counts, strict=True)
    ]


async def deliver_once(
    ledger: NotifyLedgerPort,
    senders: Sequence[Sender],
    now: datetime | None = None,
    personal: Sequence[Sender] = (),
) -> int:
    """Send each due outbox row to every sender that has not delivered it yet (a retry after
    one sender failed does not repeat the others); returns how many rows were delivered. A
    row of a person's own alert goes to `personal` (their address or webhook) only."""
    now = now or datetime.now(UTC)
    sent = 0
    for row in await ledger.due(now):
        chosen = personal if row.get("alert_id") else senders
        done, errors, final = await _attempt(row, chosen)
        error = "; ".join(errors) or None
        delay = retry_delay_s(int(row["attempts"]) + 1) // 15  # 2 s, 4 s, ... up to 24 min
        later = now + timedelta(seconds=max(delay, 1))
        await ledger.delivered(row["id"], error, later, done, final=final and error is not None)
        if error is None:
            sent += 1
        elif final:
            log.warning("notification %s not deliverable: %s", row["delivery_id"], error)
        else:
            log.warning("notification %s not delivered: %s", row["delivery_id"], error)
    return sent


async def _attempt(row: Row, chosen: Sequence[Sender]) -> tuple[list[str], list[str], bool]:
    """Each sender that has not delivered the row yet tries once: the ones that delivered,
    the errors, and whether every error is one no retry mends (Undeliverable)."""
    done: list[str] = []
    errors: list[str] = []
    final = True
    for sender in (s for s in chosen if s.name not in row["delivered_to"]):
        try:
            failure = await sender.send(row)
        except Undeliverable as exc:
            errors.append(f"{sender.name}: {exc}")
            continue
        if failure is None:
            done.append(sender.name)
        else:
            errors.append(f"{sender.name}: {failure}")
            final = False
    return done, errors, final
