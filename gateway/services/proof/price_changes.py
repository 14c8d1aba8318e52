"""Price changes reviewed before they bill: propose (diff and preview), approve, reject, and
the install every gateway process runs on a clock (docs/concepts/prices.md).

Kept whole: one review's life (propose, preview, approve, reject, install) over one table of
states.

An approved change is installed in the process's pricing table ahead of its effective time
(PRICE_CHANGE_LEAD_S is at least one PRICE_CHANGE_POLL_S) as a dated period of each model's
price, so the card that bills a call is the one in force at its admission (the reservation's
Redis clock): every process agrees, and a call in flight at the switch is billed by the card
its reservation was priced with. A model not served before a change is served from its
effective time on (nothing of it was billable before).

Installing touches the table in place (`PricingTable.install`), one step between two
requests (the event loop). Calls refused for a model no price serves are counted by the
table in the process and flushed here to the ledger, with the accounts asking, for the
operator to price them (as a change).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from billing.money.plans import PlanBook, resolved_markup, scheduled_ms
from billing.pricing import ModelPrice, PricingError, PricingTable
from billing.pricing.books import is_book_change
from billing.pricing.changes import (
    AccountPreview,
    Scheduled,
    change_diff,
    largest_move,
    percent,
    preview,
    read_document,
    schedule,
)
from billing.pricing.markup_change import (
    MarkupChange,
    PlanMarkupChange,
    markup_diff,
    markup_preview,
    plan_markup_diff,
    plan_markup_preview,
    read_markup,
    read_plan_markup,
)
from gateway.config.price_review import PriceReview
from gateway.errors import (
    ConfirmationRequired,
    InvalidRequest,
    MarkupChangeScheduled,
    NotFound,
    PriceChangeDecided,
    PriceChangeTooLate,
    PriceChangeTooSoon,
    SecondApproverRequired,
)
from gateway.services.contracts import (
    checked_book_change,
    install_book_change,
    review_book_change,
)
from gateway.services.money.plan_change import put_account_row
from gateway.stores.errors import LedgerRejected, StoreError
from gateway.stores.ports import HotStorePort
from gateway.stores.ports.contracts.books import BooksPort
from gateway.stores.ports.prices import PlanMarkupsPort, PriceChangesPort, RateCardsPort
from gateway.stores.records import Row

PREVIEW_DAYS = 30
log = logging.getLogger("meterway.pricing")


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _review(diff: list[str], accounts: list[AccountPreview]) -> dict[str, Any]:
    """A change's review as it is kept with it: its diff, each account's spend before and
    after over the last PREVIEW_DAYS, the total, and the largest move."""
    before = sum(a.before_micros for a in accounts)
    after = sum(a.after_micros for a in accounts)
    return {
        "diff": diff,
        "preview": {
            "days": PREVIEW_DAYS,
            "accounts": [a.to_json() for a in accounts],
            "total": {
                "before_micros": before,
                "after_micros": after,
                "change_micros": after - before,
            },
        },
        "largest_move_permille": largest_move(accounts),
    }


@dataclass
class PriceDesk:
    """The process's pricing table and what reviews and installs changes to it."""

    table: PricingTable
    plans: PlanBook
    providers: frozenset[str]
    review: PriceReview
    changes: PriceChangesPort
    versions: RateCardsPort
    store: HotStorePort  # an account's hot record carries its scheduled markup
    plan_markups: PlanMarkupsPort
    # PRICE_CHANGES_AT_START=review: the plans bill their approved markups, kept by the clock.
    reviewed_plans: bool = False
    # Each changed model's price before any change was installed (None: not served).
    _base: dict[str, ModelPrice | None] = field(default_factory=dict)
    _registered: set[str] = field(default_factory=set)
    books: BooksPort | None = None  # price books: a plan's accounts, a book change's usage

    def _lookup(self, name: str) -> ModelPrice | None:
        return self.table.lookup(name)

    def _too_soon(self, effective_at: datetime, now: datetime) -> None:
        earliest = now + timedelta(seconds=self.review.lead_s)
        if effective_at < earliest:
            raise PriceChangeTooSoon(
                f"A price change takes effect at least {self.review.lead_s:g} s ahead"
                f" (after {earliest.isoformat()}), never in the past.",
                param="effective_at",
            )

    def _scheduled(self, document: Mapping[str, Any], effective_at: datetime) -> list[Scheduled]:
        """The change's models priced over the table now; InvalidRequest names what fails."""
        try:
            models = read_document(document)
            return schedule(self._lookup, models, _ms(effective_at), "change", self.providers)
        except PricingError as exc:
            raise InvalidRequest(str(exc), param="models") from exc

    async def review_of(
        self, document: Mapping[str, Any], effective_at: datetime
    ) -> dict[str, Any]:
        """The change's diff and its preview over the last PREVIEW_DAYS of debits."""
        if is_book_change(document):
            return await review_book_change(self, document, effective_at)
        markup = self._markup(document)
        if markup is not None:
            return await self._markup_review(markup, effective_at)
        plan_markup = self._plan_markup(document)
        if plan_markup is not None:
            return await self._plan_markup_review(plan_markup, effective_at)
        scheduled = self._scheduled(document, effective_at)
        since = datetime.now(UTC) - timedelta(days=PREVIEW_DAYS)
        rows = await self.changes.usage_since([s.name for s in scheduled], since)
        owners = await self.changes.account_markups(sorted({r["account_id"] for r in rows}))
        markups = {a: resolved_markup(self.plans.get(p), own) for a, (p, own) in owners.items()}
        accounts = preview(self._lookup, scheduled, rows, markups)
        return _review(change_diff(self._lookup, scheduled), accounts)

    @staticmethod
    def _markup(document: Mapping[str, Any]) -> MarkupChange | None:
        try:
            return read_markup(document)
        except PricingError as exc:
            raise InvalidRequest(str(exc), param="markup_bps") from exc

    @staticmethod
    def _plan_markup(document: Mapping[str, Any]) -> PlanMarkupChange | None:
        try:
            return read_plan_markup(document)
        except PricingError as exc:
            raise InvalidRequest(str(exc), param="markup_bps") from exc

    async def _plan_markup_review(
        self, change: PlanMarkupChange, effective_at: datetime
    ) -> dict[str, Any]:
        """The plan's markup in force at the effective time against the change's, and the
        last PREVIEW_DAYS of debits of every account following it re-priced under each."""
        plan = self.plans.get(change.plan)
        if plan is None:
            raise InvalidRequest(f"Unknown plan '{change.plan}'.", param="plan")
        at = _ms(effective_at)
        due = plan.next_markup is not None and plan.next_markup[1] <= at
        before = plan.next_markup[0] if plan.next_markup is not None and due else plan.markup_bps
        since = datetime.now(UTC) - timedelta(days=PREVIEW_DAYS)
        rows = await self.plan_markups.usage_since(change.plan, since, effective_at)
        accounts = plan_markup_preview(self._lookup, rows, before, change.markup_bps, at)
        return _review(plan_markup_diff(change.plan, before, change.markup_bps), accounts)

    async def _markup_review(self, change: MarkupChange, effective_at: datetime) -> dict[str, Any]:
        """The account's markup in force at the effective time against the change's, and its
        last PREVIEW_DAYS of debits re-priced under each."""
        row = await self.changes.account(change.account_id)
        if row is None:
            raise NotFound("No such account.")
        plan = self.plans.get(row["plan"])
        due = row["next_markup_at"] is not None and row["next_markup_at"] <= effective_at
        own = row["next_markup_bps"] if due else row["markup_bps"]
        before, after = resolved_markup(plan, own), resolved_markup(plan, change.markup_bps)
        since = datetime.now(UTC) - timedelta(days=PREVIEW_DAYS)
        rows = await self.changes.account_usage_since(change.account_id, since)
        at = _ms(effective_at)
        accounts = markup_preview(self._lookup, change.account_id, rows, before, after, at)
        diff = markup_diff(change.account_id, (own, before), (change.markup_bps, after))
        return _review(diff, accounts)

    async def propose(
        self, document: Mapping[str, Any], effective_at: datetime, note: str, by: str
    ) -> Row:
        self._too_soon(effective_at, datetime.now(UTC))
        review = await self.review_of(document, effective_at)
        return await self.changes.propose(document, effective_at, note, review, by)

    async def _pending(self, change_id: int) -> Row:
        row = await self.changes.get(change_id)
        if row is None:
            raise NotFound("No such price change.")
        if row["status"] != "pending":
            raise PriceChangeDecided(f"Price change {change_id} is already {row['status']}.")
        return row

    async def approve(self, change_id: int, by: str, confirm: str | None) -> Row:
        """Approve a pending change: by another operator when two are required, ahead of its
        effective time by the lead, naming its largest move when that passes the threshold."""
        row = await self._pending(change_id)
        if self.review.approvers > 1 and row["proposed_by"] == by:
            raise SecondApproverRequired(
                f"Price change {change_id} was proposed by {by}; another operator approves it."
            )
        earliest = datetime.now(UTC) + timedelta(seconds=self.review.lead_s)
        if row["effective_at"] < earliest:  # the stored change's state, not the request
            raise PriceChangeTooLate(
                f"Price change {change_id} takes effect at {row['effective_at'].isoformat()},"
                f" less than {self.review.lead_s:g} s from now: it can no longer be approved."
                " Reject it and propose it again with a later effective_at."
            )
        move = row["largest_move_permille"]
        if move > self.review.confirm_permille and confirm != percent(move):
            raise ConfirmationRequired(
                f"This change moves an account's spend by {percent(move)}, over the"
                f" {percent(self.review.confirm_permille)} threshold: approve it with"
                f' "confirm": "{percent(move)}".',
                param="confirm",
            )
        markup = self._markup(row["document"])
        if markup is not None:
            return await self._approve_markup(row, markup, by)
        plan_markup = self._plan_markup(row["document"])
        if plan_markup is not None:
            return await self._approve_plan_markup(row, plan_markup, by)
        if is_book_change(row["document"]):
            await checked_book_change(self, row["document"], row["effective_at"])
        else:
            self._scheduled(row["document"], row["effective_at"])  # still prices
        decided = await self.changes.decide(change_id, "approved", by)
        if decided is None:
            raise PriceChangeDecided(f"Price change {change_id} was decided meanwhile.")
        await self.install()
        return decided

    async def _approve_markup(self, row: Row, change: MarkupChange, by: str) -> Row:
        """Approved and scheduled on the account together, then its hot record carries the
        markup from the effective time (reserve.lua switches by the reservation's clock)."""
        decided, account = await self.changes.approve_markup(
            row["id"], by, change.account_id, change.markup_bps, row["effective_at"]
        )
        if decided is None:
            raise PriceChangeDecided(f"Price change {row['id']} was decided meanwhile.")
        if account is None:
            raise MarkupChangeScheduled(
                f"Account {change.account_id} has another markup change scheduled (its own, or"
                " its plan's while it follows it); approve this one once that one is in force."
            )
        await put_account_row(self.store, account, self.plans.get(account["plan"]))
        return decided

    async def _approve_plan_markup(self, row: Row, change: PlanMarkupChange, by: str) -> Row:
        """Approved and scheduled on the plan together; then the plan book carries it for
        accounts opened on the plan, and the hot record of every account following the
        plan's markup switches to it by reserve.lua's clock, as an account's own change."""
        at = row["effective_at"]
        if self.plans.get(change.plan) is None:
            raise InvalidRequest(f"Plan '{change.plan}' is not in plans.toml.", param="plan")
        decided, blocked = await self.plan_markups.approve(
            row["id"], by, change.plan, change.markup_bps, at
        )
        if decided is None:
            raise PriceChangeDecided(f"Price change {row['id']} was decided meanwhile.")
        if blocked is not None:
            who = (
                f"Accounts following plan {change.plan}'s markup ({', '.join(blocked)}) have"
                " their own markup change scheduled"
                if blocked
                else f"Plan {change.plan} has another markup change scheduled"
            )
            raise MarkupChangeScheduled(f"{who}; approve this one once that is in force.")
        plan = self.plans.get(change.plan)
        if plan is not None:  # checked above; a plan leaves the book only at a restart
            now = plan.next_markup if plan.next_markup and plan.next_markup[1] <= _ms(at) else None
            current = plan.markup_bps if now is None else now[0]
            self.plans.install_markup(plan.name, current, (change.markup_bps, _ms(at)))
        for account in await self.plan_markups.following(change.plan):
            await put_account_row(self.store, account, self.plans.get(account["plan"]))
        return decided

    async def install_plan_markups(self) -> None:
        """The plans' approved markups, and those scheduled to follow, in the plan book
        (PRICE_CHANGES_AT_START=review; under `apply` the plans.toml loaded bills)."""
        if not self.reviewed_plans:
            return
        for name, (bps, scheduled) in (await self.plan_markups.approved()).items():
            self.plans.install_markup(name, bps, scheduled_ms(scheduled))

    async def fold_markups(self) -> None:
        """Scheduled markups now in force become the accounts' own (their hot records
        charged them already from the effective time)."""
        for account in await self.changes.due_markups():
            await put_account_row(self.store, account, self.plans.get(account["plan"]))

    async def reject(self, change_id: int, by: str) -> Row:
        await self._pending(change_id)
        decided = await self.changes.decide(change_id, "rejected", by)
        if decided is None:
            raise PriceChangeDecided(f"Price change {change_id} was decided meanwhile.")
        return decided

    def _base_lookup(self, overlay: dict[str, ModelPrice]) -> Any:
        def lookup(name: str) -> ModelPrice | None:
            if name in overlay:
                return overlay[name]
            if name not in self._base:
                self._base[name] = self.table.lookup(name)
            return self._base[name]

        return lookup

    async def tick(self) -> None:
        """The price desk's clock (every PRICE_CHANGE_POLL_S): install approved changes, and
        flush the refusals of unpriced models counted since the last tick."""
        await self.install()
        await self.install_plan_markups()
        await self.fold_markups()
        await self.flush_refusals()

    async def flush_refusals(self) -> None:
        """Write the counted refusals; a ledger away keeps them for the next tick."""
        counts = self.table.take_refusals()
        if not counts:
            return
        try:
            await self.changes.add_refusals(counts)
        except LedgerRejected as exc:  # not kept: the ledger would refuse it at every tick
            log.warning("unpriced-model refusals dropped, the ledger refused them: %s", exc)
        except StoreError:
            for (model, account), n in counts.items():
                self.table.refused(model, account, n)
            raise

    async def unpriced(self) -> list[dict[str, Any]]:
        """Models refused for want of a price in the last PREVIEW_DAYS and not priced since,
        with the demand behind them, and the one way to price them: a price change."""
        since = datetime.now(UTC) - timedelta(days=PREVIEW_DAYS)
        rows = await self.changes.unpriced(since)
        return [
            {
                "model": r["model"],
                "calls": r["calls"],
                "accounts": r["accounts"],
                "first_seen": r["first_seen"].isoformat(),
                "last_seen": r["last_seen"].isoformat(),
            }
            for r in rows
            if self.table.lookup(r["model"]) is None
        ]

    async def install(self) -> None:
        """Install every approved change in the table, in effective order, over each model's
        price before any change; a new model only once its change is in force."""
        now_ms = _ms(datetime.now(UTC))
        overlay: dict[str, ModelPrice] = {}
        due: dict[str, ModelPrice] = {}
        lookup = self._base_lookup(overlay)
        rows = await self.changes.approved()
        for row in rows:
            if is_book_change(row["document"]):
                continue  # installed on the shelf, below
            if "markup" in row["document"] or "plan_markup" in row["document"]:
                continue  # a markup, scheduled on its account or plan when approved
            try:
                document = read_document(row["document"])
                at = _ms(row["effective_at"])
                found = schedule(lookup, document, at, f"price change {row['id']}", self.providers)
            except PricingError as exc:
                log.error("price change %s cannot be installed: %s", row["id"], exc)
                continue
            for s in found:
                overlay[s.name] = s.price
                if not s.new or s.effective_ms <= now_ms:
                    due[s.name] = s.price
        await self.register(due)
        if due:
            self.table.install(due)
        await install_book_change(self, rows)

    async def register(self, prices: Mapping[str, ModelPrice]) -> None:
        """The new cards in price_versions before they bill, so `prices explain` finds them."""
        cards = {
            card.version: card.to_json()
            for price in prices.values()
            for period in price.periods
            for segment in period.segments
            for card in segment.values()
            if card.version not in self._registered
        }
        if cards:
            await self.versions.register(cards)
            self._registered |= cards.keys()
