"""A month's statement of an organization: its arithmetic, with no I/O.

The store sums the month's ledger entries in small groups (`Movement`: a ledger kind with
the grant, model, team and meter it concerns); here they become sections (credits by grant
kind, usage by model, by team and by kind, expiries, refunds, adjustments) whose totals,
added to the opening balance, must give the closing balance the store read independently
(the balance at the month's end, UTC). Amounts keep the ledger's signs: what came in is
positive, usage, expiries and refunds negative, so `opening + every total == closing`
holds as written.

A month whose archive table an operator dropped (`meterway ledger retention`) keeps its
sums per ledger kind; those rows cannot be itemized, and appear as one line per section,
`ARCHIVED`, with the table named in `missing`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from billing.pricing.mcp_prices import is_tool_call

ARCHIVED = "(archived, not itemized)"
LLM_CALLS = "llm_calls"  # the usage kind of a call to a model; a metered debit's is its meter
TOOL_CALLS = "tool_calls"  # an MCP tool call's
SECTIONS = ("credits", "usage", "expiries", "refunds", "adjustments", "other")
USAGE_VIEWS = ("by_model", "by_team", "by_kind")
_KIND_SECTION = {
    "credit": "credits",
    "debit": "usage",
    "expire": "expiries",
    "refund": "refunds",
    "adjustment": "adjustments",
}
FIRST_YEAR = 2000
# YYYY-MM from FIRST_YEAR: also the API's documented pattern of a month.
MONTH_PATTERN = "^([2-9][0-9]{3})-(0[1-9]|1[0-2])$"
_MONTH = re.compile(MONTH_PATTERN)


class InvalidMonth(ValueError):
    """Not a month like 2026-10, or one that has not begun."""


@dataclass(frozen=True, slots=True, order=True)
class Month:
    year: int
    month: int

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return self.next().start

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def month_of(at: datetime) -> Month:
    at = at.astimezone(UTC)
    return Month(at.year, at.month)


def parse_month(text: str, now: datetime) -> Month:
    """A month `YYYY-MM` from 2000 up to the current one (UTC)."""
    found = _MONTH.fullmatch(text)
    if not found:
        raise InvalidMonth(f"'{text}' is not a month like 2026-10 (from {FIRST_YEAR}).")
    month = Month(int(found[1]), int(found[2]))
    if month > month_of(now):
        raise InvalidMonth(f"{month} has not begun.")
    return month


@dataclass(frozen=True, slots=True)
class Movement:
    """A group of the month's ledger entries of one kind, as the store sums them: credits,
    expiries and refunds name their grant's kind, debits their model, team and meter.
    `itemized` is False for an archived month's sums whose table is gone."""

    kind: str
    entries: int
    amount_micros: int
    grant_kind: str = ""
    model: str = ""
    team_id: str = ""
    team_name: str = ""
    meter: str = ""
    requests: int = 0
    itemized: bool = True


@dataclass(frozen=True, slots=True)
class MonthLedger:
    """What the store read of a month: the balances at its start and end (UTC), its
    entries' groups, and the archive tables of it that are gone (their groups not itemized)."""

    opening_micros: int
    closing_micros: int
    movements: list[Movement]
    missing: list[str]


@dataclass(frozen=True, slots=True)
class Line:
    key: str  # what the line groups by: a grant kind, a model, a team id, a usage kind
    label: str  # the same for people
    entries: int
    requests: int
    amount_micros: int


@dataclass(frozen=True, slots=True)
class Section:
    lines: tuple[Line, ...] = ()

    @property
    def total_micros(self) -> int:
        return sum(line.amount_micros for line in self.lines)

    @property
    def entries(self) -> int:
        return sum(line.entries for line in self.lines)


@dataclass(frozen=True, slots=True)
class Statement:
    account_id: str
    month: Month
    opening_micros: int
    closing_micros: int
    sections: dict[str, Section]  # SECTIONS; usage is by model
    usage_views: dict[str, Section]  # USAGE_VIEWS: the same usage three ways
    final: bool  # the month is over (late settlements of it may still land)
    missing: tuple[str, ...] = field(default=())  # archive tables gone: not itemized

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def movement_micros(self) -> int:
        return sum(self.sections[name].total_micros for name in SECTIONS)

    @property
    def reconciles(self) -> bool:
        """Opening plus every section's total is the closing balance, and each view of usage
        sums to the same usage total."""
        usage = self.sections["usage"].total_micros
        views = all(v.total_micros == usage for v in self.usage_views.values())
        return views and self.opening_micros + self.movement_micros == self.closing_micros


def _usage_key(m: Movement, view: str) -> tuple[str, str]:
    if not m.itemized:
        return "", ARCHIVED
    if view == "by_model":
        return m.model, m.model or "(no model: metered)"
    if view == "by_team":
        return m.team_id, m.team_name or m.team_id or "(no team)"
    if m.meter:
        return f"meter:{m.meter}", f"meter {m.meter}"
    return (TOOL_CALLS, "MCP tool calls") if is_tool_call(m.model) else (LLM_CALLS, "LLM calls")


def _section_key(m: Movement) -> tuple[str, str]:
    if not m.itemized:
        return "", ARCHIVED
    if m.kind in ("credit", "expire", "refund"):
        return m.grant_kind, m.grant_kind or "(no grant)"
    if m.kind == "adjustment":
        return "adjustment", "adjustments"
    return m.kind, m.kind


def _grouped(movements: Iterable[Movement], key: Callable[[Movement], tuple[str, str]]) -> Section:
    """Lines summed by key, in key order (the archived line last)."""
    sums: dict[tuple[str, str], list[int]] = {}
    for m in movements:
        k = key(m)
        acc = sums.setdefault(k, [0, 0, 0])
        acc[0] += m.entries
        acc[1] += m.requests
        acc[2] += m.amount_micros
    order = sorted(sums, key=lambda k: (k[1] == ARCHIVED, k[0], k[1]))
    return Section(tuple(Line(k[0], k[1], *sums[k]) for k in order))


def build(
    account_id: str,
    month: Month,
    opening_micros: int,
    closing_micros: int,
    movements: Iterable[Movement],
    *,
    now: datetime,
    missing: Iterable[str] = (),
) -> Statement:
    """The statement of these sums; `reconciles` says whether they add up."""
    by_section: dict[str, list[Movement]] = {name: [] for name in SECTIONS}
    for m in movements:
        by_section[_KIND_SECTION.get(m.kind, "other")].append(m)
    usage = by_section["usage"]
    views = {v: _grouped(usage, partial(_usage_key, view=v)) for v in USAGE_VIEWS}
    sections = {
        name: views["by_model"] if name == "usage" else _grouped(rows, _section_key)
        for name, rows in by_section.items()
    }
    return Statement(
        account_id,
        month,
        opening_micros,
        closing_micros,
        sections,
        views,
        final=now >= month.end,
        missing=tuple(sorted(set(missing))),
    )


CSV_HEADER = (
    "account_id",
    "month",
    "section",
    "key",
    "label",
    "entries",
    "requests",
    "amount_micros",
)


def csv_rows(s: Statement) -> list[tuple[str, str, str, str, str, int, int, int]]:
    """The statement as CSV rows (after CSV_HEADER): the opening balance, each section's
    lines then its total (section `NAME_total`), usage once per view (`usage_by_model`...),
    the closing balance. The same figures as the JSON."""
    a, m = s.account_id, str(s.month)
    rows = [(a, m, "opening_balance", "", "opening balance", 0, 0, s.opening_micros)]
    parts = [(n, s.sections[n]) for n in SECTIONS if n != "usage"]
    parts += [(f"usage_{v}", s.usage_views[v]) for v in USAGE_VIEWS]
    for name, section in parts:
        rows += [(a, m, name, ln.key, ln.label, ln.entries, ln.requests, ln.amount_micros)
                 for ln in section.lines]  # fmt: skip
        requests = sum(ln.requests for ln in section.lines)
        total = section.total_micros
        rows.append((a, m, f"{name}_total", "", "total", section.entries, requests, total))
    rows.append((a, m, "closing_balance", "", "closing balance", 0, 0, s.closing_micros))
    return rows
