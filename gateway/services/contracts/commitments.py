"""Commitments' use cases: an operator sets one, the commitment keeper closes its periods.

The terms and periods are PostgreSQL's (the record of truth); the open period's allowance,
drawdown and holds live in the account's Redis hash, read by reserve.lua in the HMGET it
already makes. A close reads and zeroes what the period drew in one atomic step as the next
period opens (asked again, it answers the same), then writes each ledger entry under its
own key (`commitment:<id>:<period start ms>:<what>`), so a close run twice, or after a
crash anywhere, writes each entry once. The arithmetic is billing/contracts/commitments.py's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from billing.contracts.commitments import (
    ArrearsNeedPostpaid,
    Closing,
    Terms,
    allowance,
    close,
    entry_key,
    hot_terms,
    period_after,
    period_start,
    terms_from,
)
from gateway.services.money.credits import post_adjustment, post_credit
from gateway.stores.errors import BalanceTooLow, DuplicateCredit
from gateway.stores.ports import HotStorePort, LedgerPort
from gateway.stores.ports.contracts.commitments import CommitmentLedgerPort, tranches_of
from gateway.stores.records import GrantSpec, Row

log = logging.getLogger("meterway.commitments")
GRANT_KIND = "commitment"  # the grants a commitment's prepayment and rollovers fund


@dataclass(frozen=True, slots=True)
class CommitmentPorts:
    ledger: LedgerPort
    commitments: CommitmentLedgerPort
    store: HotStorePort


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


async def set_commitment(
    ports: CommitmentPorts, account_id: str, terms: Terms, now_ms: int
) -> tuple[Row, Row]:
    """Give the account `terms` from now. A new commitment opens the period holding now, at
    its full amount (prepaid: credited at once); new terms on an open period apply its rates
    and policy at once and its amount from the next period. In arrears the account must be
    postpaid (its true-up may make it owe): ArrearsNeedPostpaid otherwise."""
    account = await ports.ledger.get_account(account_id)
    if account is not None and terms.billing == "arrears" and account["mode"] != "postpaid":
        raise ArrearsNeedPostpaid("A commitment in arrears needs a postpaid account.")
    start = period_start(terms.period, now_ms)
    row, period = await ports.commitments.put(
        account_id, terms, _at(start), _at(period_after(terms.period, start))
    )
    await _open(ports, account_id, row, period, terms)
    return row, period


async def _open(
    ports: CommitmentPorts, account_id: str, row: Row, period: Row, terms: Terms
) -> None:
    start_ms, end_ms = _ms(period["starts_at"]), _ms(period["ends_at"])
    committed = int(period["committed_micros"])
    if terms.billing == "prepaid":
        await _credit(ports, account_id, committed, entry_key(row["id"], start_ms, "prepaid"), None)
    allowed = allowance(committed, tranches_of(period["rolled_in"]))
    await ports.store.commitments.open(account_id, end_ms, allowed, hot_terms(terms))


async def stop_commitment(ports: CommitmentPorts, account_id: str) -> Row | None:
    """End the commitment with its open period (its close still writes what it owes)."""
    return await ports.commitments.stop(account_id)


async def close_due(ports: CommitmentPorts, now: datetime) -> int:
    """Close every period that ended by `now`; how many were closed."""
    closed = 0
    for row in await ports.commitments.due(now):
        await close_period(ports, row)
        closed += 1
    return closed


async def close_period(ports: CommitmentPorts, row: Row) -> None:
    """Close one period (a `due` row): read what it drew, write its entries, open the next."""
    account_id, terms = row["account_id"], terms_from(row)
    start_ms, end_ms = _ms(row["period_starts_at"]), _ms(row["period_ends_at"])
    ends_at = row["ends_at"]
    goes_on = ends_at is None or _ms(ends_at) > end_ms
    next_end = period_after(terms.period, end_ms)
    upcoming = (next_end, terms.amount_micros, hot_terms(terms)) if goes_on else None
    drawn = await ports.store.commitments.close(account_id, end_ms, upcoming)
    if drawn is None:
        log.warning("commitment %s: the hot store lost its period; drawn from debits", row["id"])
        drawn = await ports.commitments.drawn_in(
            account_id, row["period_starts_at"], row["period_ends_at"]
        )
    closing = close(terms, start_ms, row["committed_micros"], tranches_of(row["rolled_in"]), drawn)
    if closing.charged_micros:
        key = entry_key(row["id"], start_ms, "unused")
        await _charge(ports, account_id, terms, key, closing)
        # A prepaid write-off takes no more than the account has free (running calls hold
        # the rest): the period records what the ledger took, this run's or an earlier one's.
        closing = replace(closing, charged_micros=await ports.commitments.taken(account_id, key))
    if closing.rolled_micros:
        key = entry_key(row["id"], start_ms, "rollover")
        await _credit(ports, account_id, closing.rolled_micros, key, _at(closing.rolled_ends_ms))
    if goes_on and terms.billing == "prepaid":
        key = entry_key(row["id"], end_ms, "prepaid")
        await _credit(ports, account_id, terms.amount_micros, key, None)
    await ports.commitments.record_close(row["id"], row["period_starts_at"], closing, goes_on)
    if goes_on:
        carried = sum(t.remaining_micros for t in closing.carried)
        await ports.store.commitments.allow(account_id, next_end, terms.amount_micros + carried)


async def _credit(
    ports: CommitmentPorts, account_id: str, micros: int, key: str, ends: datetime | None
) -> None:
    spec = GrantSpec(kind=GRANT_KIND, expires_at=ends)
    what = key.rsplit(":", 1)[1]
    try:
        await post_credit(
            ports.ledger, ports.store, account_id, micros, key, f"commitment {what}", grant=spec
        )
    except DuplicateCredit:
        log.warning("commitment entry %s was written for another amount; kept", key)


async def _charge(
    ports: CommitmentPorts, account_id: str, terms: Terms, key: str, closing: Closing
) -> None:
    """The unused committed share, once: billed in arrears (`true_up`, the account may owe:
    it is postpaid), written off when prepaid (`commitment_expire`, never more than the
    account has free: what running calls hold stays theirs)."""
    amount = closing.charged_micros
    if terms.billing == "arrears":
        try:
            result = await ports.ledger.credit(
                account_id, -amount, key, "commitment true-up", kind="true_up"
            )
        except DuplicateCredit:
            return
        await ports.store.apply_credit(account_id, result.entry_id, -amount)
        return
    for _ in range(3):
        try:
            await post_adjustment(
                ports.ledger,
                ports.store,
                account_id,
                -amount,
                key,
                "commitment unused",
                kind="commitment_expire",
            )
            return
        except BalanceTooLow as low:
            if low.most_micros <= 0:
                log.warning("commitment write-off %s: nothing free to take", key)
                return
            amount = min(amount, low.most_micros)
        except DuplicateCredit:
            return
