"""An account's markup changed as a price change: dated, previewed, approved, then in force.

A markup change is the document `{"markup": {"account_id": "acct_1", "markup_bps": 1500}}`
(`null`: back to its plan's markup). Its preview re-prices the account's debits of the last
days at the cards in force at the effective time, under the markup in force before it and
under the new one (the same shape as a model change's preview: billing/pricing/changes.py),
so an operator sees what the same usage would be charged once it is in force.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from billing.money.micros import charge
from billing.money.plans import markup_bps
from billing.pricing.changes import AccountPreview, Lookup, row_usage
from billing.pricing.errors import PricingError


@dataclass(frozen=True, slots=True)
class MarkupChange:
    """The account's own markup from the effective time; None: its plan's again."""

    account_id: str
    markup_bps: int | None

    def to_json(self) -> dict[str, Any]:
        return {"markup": {"account_id": self.account_id, "markup_bps": self.markup_bps}}


def read_markup(raw: object) -> MarkupChange | None:
    """The markup change a document holds; None when it is a change of model prices.
    PricingError says what is wrong with a markup document."""
    if not isinstance(raw, Mapping) or "markup" not in raw:
        return None
    entry = raw["markup"]
    if raw.keys() != {"markup"} or not isinstance(entry, Mapping):
        raise PricingError('a markup change is {"markup": {"account_id": ..., "markup_bps": N}}')
    account, bps = entry.get("account_id"), entry.get("markup_bps")
    if not isinstance(account, str) or not account:
        raise PricingError("a markup change names its account_id")
    try:
        return MarkupChange(account, None if bps is None else markup_bps(bps))
    except ValueError as exc:
        raise PricingError(str(exc)) from exc


def _words(own: int | None, resolved: int) -> str:
    return f"{resolved} bps" + (" (its plan's)" if own is None else "")


def markup_diff(
    account_id: str, before: tuple[int | None, int], after: tuple[int | None, int]
) -> list[str]:
    """The change's one line: the account's markup before and after, each (own, charged)."""
    return [f"{account_id} markup: {_words(*before)} -> {_words(*after)}"]


def markup_preview(
    lookup: Lookup,
    account_id: str,
    rows: Iterable[Mapping[str, Any]],
    before_bps: int,
    after_bps: int,
    at_ms: int,
) -> list[AccountPreview]:
    """The account's debits (a row of `calls` identical ones, or one) re-priced at the cards
    in force at `at_ms`, marked up by `before_bps` and by `after_bps`. A model no longer
    served has nothing to re-price: it is not billed on either side."""
    calls = before = after = 0
    for row in rows:
        price = lookup(row["model"])
        if price is None:
            continue
        exact = price.price(row_usage(row), at_ms).numerator
        n = row.get("calls", 1)
        calls += n
        before += charge(exact, before_bps) * n
        after += charge(exact, after_bps) * n
    return [AccountPreview(account_id, calls, before, after)] if calls else []


@dataclass(frozen=True, slots=True)
class PlanMarkupChange:
    """A plan's markup from the effective time, for every account following it (no markup
    of its own) and every account opened on it after."""

    plan: str
    markup_bps: int

    def to_json(self) -> dict[str, Any]:
        return {"plan_markup": {"plan": self.plan, "markup_bps": self.markup_bps}}


def read_plan_markup(raw: object) -> PlanMarkupChange | None:
    """The plan markup change a document holds; None when it holds another change.
    PricingError says what is wrong with a plan markup document."""
    if not isinstance(raw, Mapping) or "plan_markup" not in raw:
        return None
    entry = raw["plan_markup"]
    if raw.keys() != {"plan_markup"} or not isinstance(entry, Mapping):
        raise PricingError(
            'a plan markup change is {"plan_markup": {"plan": ..., "markup_bps": N}}'
        )
    plan = entry.get("plan")
    if not isinstance(plan, str) or not plan:
        raise PricingError("a plan markup change names its plan")
    try:
        return PlanMarkupChange(plan, markup_bps(entry.get("markup_bps")))
    except ValueError as exc:
        raise PricingError(str(exc)) from exc


def plan_markup_diff(plan: str, before_bps: int, after_bps: int) -> list[str]:
    """The change's one line: the plan's markup before and after."""
    return [f"plan {plan} markup: {before_bps} bps -> {after_bps} bps"]


def plan_markup_preview(
    lookup: Lookup, rows: Iterable[Mapping[str, Any]], before_bps: int, after_bps: int, at_ms: int
) -> list[AccountPreview]:
    """Each account's debits re-priced as `markup_preview` does, accounts in id order."""
    by_account: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_account.setdefault(row["account_id"], []).append(row)
    return [
        moved
        for account_id in sorted(by_account)
        for moved in markup_preview(
            lookup, account_id, by_account[account_id], before_bps, after_bps, at_ms
        )
    ]
