"""No unreviewed card at start (PRICE_CHANGES_AT_START=review, docs/concepts/prices.md).

A start compares the cards its configuration loaded (config/pricing.toml and the catalogue)
with the approved card recorded in PostgreSQL. The first start on a database records its
cards as the approved one. A start that loads other rates bills the approved rates of each
moved model (installed over the loaded ones before serving) and files the move as a pending
price change proposed by `config`, a day ahead, with its diff and preview: approved, it is
installed like any change and bills from its effective time; in force, its cards are the
approved card of the next start. Gateways starting with the same cards share one change.

A plan's markup in config/plans.toml is compared the same way with the plan's approved
markup (migration 105; a plan first seen is recorded at its loaded markup): a moved one
bills the approved markup (installed in the plan book before any hot record is written)
and is filed as a pending plan markup change proposed by `config`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta

from billing.money.plans import scheduled_ms
from billing.pricing import ModelPrice, PricingError
from billing.pricing.card import RateCard
from billing.pricing.changes import schedule
from billing.pricing.config_card import approved_entries, moved_models, rates_digest
from billing.pricing.from_cards import Cards, from_install
from billing.pricing.markup_change import PlanMarkupChange
from gateway.errors import MeterwayError
from gateway.services.proof.price_changes import PriceDesk
from gateway.stores.ports.prices import ConfigCardsPort, PlanMarkupsPort

SOURCE = "approved card"  # the restored cards' source, as `prices explain` names it
# A change a start files takes effect a day later, leaving a day for its review.
CONFIG_AHEAD = timedelta(days=1)
log = logging.getLogger("meterway.pricing")


async def review_at_start(desk: PriceDesk, cards: ConfigCardsPort) -> int | None:
    """Bill the approved card, filing what the loaded configuration moves; the change's id
    (None: nothing moved, or nothing pricing.toml's words can carry)."""
    loaded = desk.table.current()
    digest = rates_digest(loaded)
    approved = await cards.approved()
    if approved is None and await cards.baseline(digest, loaded):
        return None  # the first start: its cards are the approved card
    approved = approved or await cards.approved()
    if approved is None or approved[0] == digest:
        return None
    await _bill_approved(desk, approved[1], moved_models(approved[1], loaded))
    return await _file(desk, cards, digest, approved[1], loaded)


async def _bill_approved(desk: PriceDesk, approved: Cards, names: list[str]) -> None:
    """Install each moved model's approved rates over the loaded ones, from the beginning of
    time, so the loaded ones bill nothing until their change is in force."""
    entries, left = approved_entries(approved, names)
    prices: dict[str, ModelPrice] = {}
    for name, entry in entries.items():
        try:
            (found,) = schedule(
                desk.table.lookup, {name: entry}, 0, "approved card", desk.providers
            )
        except PricingError as exc:
            left.append(f"{name}: {exc}")
            continue
        prices[name] = found.price
    for line in left:
        log.error("the approved card of %s cannot be restored; the loaded one bills", line)
    if prices:
        await desk.register(prices)
        desk.table.install(prices)


async def _file(
    desk: PriceDesk, cards: ConfigCardsPort, digest: str, approved: Cards, loaded: Cards
) -> int | None:
    document, left = from_install(approved, loaded)
    if not document["models"]:
        for line in left:
            log.warning("configuration at start: %s", line)
        return None
    effective = datetime.now(UTC).replace(microsecond=0) + CONFIG_AHEAD
    note = "the configuration loaded at start" + "".join(f"; {line}" for line in left)
    try:
        review = await desk.review_of(document, effective)
    except MeterwayError as exc:
        log.error("the configuration's change cannot be filed: %s", exc)
        return None
    change_id, new = await cards.file(digest, loaded, document, effective, note[:2000], review)
    if new:
        log.warning(
            "the configuration moves prices: filed as price change %s, pending approval;"
            " the approved prices bill until it is in force",
            change_id,
        )
    return change_id


async def review_plans_at_start(desk: PriceDesk, markups: PlanMarkupsPort) -> list[int]:
    """Bill each plan's approved markup, filing each loaded one that moves it; the ids of
    the changes filed or found waiting."""
    loaded = {name: plan.markup_bps for name, plan in desk.plans.plans.items()}
    await markups.baseline(loaded)
    approved = await markups.approved()
    filed: list[int] = []
    for name, bps in loaded.items():
        if name not in approved:
            continue
        ok, scheduled = approved[name]
        desk.plans.install_markup(name, ok, scheduled_ms(scheduled))
        if bps == ok:
            continue
        change_id = await _file_plan(desk, markups, PlanMarkupChange(name, bps))
        if change_id is not None:
            filed.append(change_id)
    return filed


async def _file_plan(
    desk: PriceDesk, markups: PlanMarkupsPort, change: PlanMarkupChange
) -> int | None:
    effective = datetime.now(UTC).replace(microsecond=0) + CONFIG_AHEAD
    document = change.to_json()
    try:
        review = await desk.review_of(document, effective)
    except MeterwayError as exc:
        log.error("plan %s's markup change cannot be filed: %s", change.plan, exc)
        return None
    note = "config/plans.toml loaded at start"
    change_id, new = await markups.file(
        change.plan, change.markup_bps, document, effective, note, review
    )
    if new:
        log.warning(
            "config/plans.toml moves plan %s's markup: filed as price change %s, pending"
            " approval; the approved markup bills until it is in force",
            change.plan,
            change_id,
        )
    return change_id


class CardsAsJson(Mapping[str, Mapping[str, object]]):
    """Cards by version, each made the ledger's JSON only when read: a start registers the
    versions PostgreSQL does not know yet, so a start whose cards are all known (every start
    but the first) makes none (making them all was a tenth of a start's CPU)."""

    def __init__(self, cards: Mapping[str, RateCard]) -> None:
        self._cards = cards

    def __getitem__(self, version: str) -> Mapping[str, object]:
        return self._cards[version].to_json()

    def __iter__(self) -> Iterator[str]:
        return iter(self._cards)

    def __len__(self) -> int:
        return len(self._cards)
