"""Who may see a field: the operator's money, declared once.

A reseller keeps what it pays and keeps to itself: the provider's cost, the margin, the
markup, and which price book and rule priced a call. Every field that carries them is named
here, and every customer surface (the account API, the dashboard, the CLI reading them,
receipts, statements, invoices, FOCUS, CSV and Parquet exports, webhooks, anomaly evidence)
is filtered through this declaration, never through a list of its own; a test walks every
customer route and export with a price book and a markup in force and finds none of them.

- `OPERATOR_ONLY`: dropped from whatever a customer reads, at any depth of a JSON body, a
  CSV's or Parquet file's columns.
- `LIST_PRICED`: the list card's figures (FOCUS's list cost and unit prices). Where the
  customer's price is the card's they are the customer's own; where a book or a markup
  priced the call they would tell the provider's price, so the customer reads its own
  charge as the list cost and no list unit price.

The operator may show its customers everything (SHOW_PROVIDER_COST=1). Pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

OPERATOR_ONLY = frozenset(
    {
        # JSON: the account, a debit, a usage report
        "markup_bps",
        "next_markup",
        "provider_cost_micros",
        "gross_margin_micros",
        "book",  # a debit's usage_detail: the price book (and its version) that priced it
        # FOCUS
        "x_ProviderCost",
    }
)
LIST_PRICED = frozenset(
    {"ListCost", "ListUnitPrice", "PricingCurrencyListUnitPrice", "SkuPriceDetails"}
)


def for_customer(body: Any) -> Any:
    """`body` (a JSON-able value) without the operator-only fields, at any depth."""
    if isinstance(body, dict):
        return {k: for_customer(v) for k, v in body.items() if k not in OPERATOR_ONLY}
    if isinstance(body, list):
        return [for_customer(v) for v in body]
    return body


def customer_columns(columns: tuple[str, ...]) -> tuple[str, ...]:
    """A file's columns (a CSV's header, a Parquet schema) a customer may read."""
    return tuple(c for c in columns if c not in OPERATOR_ONLY)


def _focus_row_for_customer(row: Mapping[str, str | None], at_list: bool) -> dict[str, str | None]:
    """A FOCUS row as its customer reads it: no operator-only column, and where its call
    was not priced at the list card, its own charge as the list cost and no list unit
    price."""
    shown = {k: v for k, v in row.items() if k not in OPERATOR_ONLY}
    if not at_list:
        shown.update(dict.fromkeys(LIST_PRICED))
        shown["ListCost"] = row.get("BilledCost")
    return shown


def focus_rows_for_customer(
    rows: Sequence[Mapping[str, str | None]],
) -> list[dict[str, str | None]]:
    """The rows as the customer reads them, judged per call, not per row: a call is at the
    list card only if every row of it is (the rows of one ledger entry, which follow each
    other). A row's share can round to its list cost while the call was marked up (0.75
    micros of input billed as 1): its list unit price would still tell the provider's."""
    off_list = {
        row.get("x_LedgerEntryId") for row in rows if row.get("ListCost") != row.get("BilledCost")
    }
    return [_focus_row_for_customer(r, r.get("x_LedgerEntryId") not in off_list) for r in rows]
