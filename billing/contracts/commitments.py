"""Commitments: a customer's contracted spend per period, drawn down call by call.

A commitment commits an account to `amount_micros` per UTC calendar period (month, quarter,
year). While the period's allowance lasts (the commitment plus what earlier periods rolled
into it), a call is priced at the commitment's discount and drawn from the allowance at
request time (reserve.lua holds against it, settle.lua draws the actual). Once it is used
up, `on_exhausted` decides: `overage` prices the call at the overage rate, `refuse` answers
402 `billing_required` (reason `commitment_exhausted`), `balance` charges the account's
ordinary price to its balance.

Every call's debit is the one settlement's entry, so the drawdown is in the ledger as every
debit is. A period's close (`close`) turns what is left into ledger entries, each once:
- the unused committed share is charged: written off (`commitment_expire`) for a prepaid
  commitment, whose money was credited at the period's open; billed (`true_up`) in arrears;
- `rollover_bps` of it (at most `rollover_cap_micros`, rounded down) comes back as a credit
  whose grant ends after `rollover_periods` more periods: the grant keeper's own `expire`
  entry takes what is still unused then;
- rolled-over money is drawn before the period's commitment (the oldest first).

Rates: the discount and the overage rate apply to the account's own price (list or book,
with its markup). They combine with the markup into one rate, rounded up to whole basis
points (`effective_bps`), so a call still has the one upward rounding of its amount.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from billing.money.micros import BPS, MAX_EXACT, ceil_div

PERIODS = ("month", "quarter", "year")
MONTHS = {"month": 1, "quarter": 3, "year": 12}
BILLINGS = ("prepaid", "arrears")
POLICIES = ("overage", "refuse", "balance")
# The policy's one letter in the account hash's `cmt` (reserve.lua reads it).
POLICY_CODES = {"overage": "o", "refuse": "r", "balance": "b"}
MAX_OVERAGE_BPS = 100_000
# The idempotency keys of a commitment's own ledger entries (`entry_key`): invoices read a
# period's prepayment by its key, and no operator's credit or adjustment may take one.
ENTRY_KEY_PREFIX = "commitment:"
MAX_ROLLOVER_PERIODS = 12


class CommitmentInvalid(ValueError):
    """Terms an operator gave that cannot be a commitment; `field` names the one at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)
        self.field = field
        self.message = message


class ArrearsNeedPostpaid(ValueError):
    """Terms in arrears for an account that is not postpaid: its true-up may make it owe,
    which only a postpaid account may."""


@dataclass(frozen=True, slots=True)
class Terms:
    """A commitment's contract, as the operator set it."""

    period: str
    amount_micros: int
    billing: str
    discount_bps: int = 0
    on_exhausted: str = "overage"
    overage_bps: int = 0
    rollover_bps: int = 0
    rollover_cap_micros: int = 0
    rollover_periods: int = 1

    def json(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in TERM_FIELDS}


TERM_FIELDS = (
    "period",
    "amount_micros",
    "billing",
    "discount_bps",
    "on_exhausted",
    "overage_bps",
    "rollover_bps",
    "rollover_cap_micros",
    "rollover_periods",
)


def terms_from(row: Mapping[str, object]) -> Terms:
    """Terms as a stored row (or an operator's checked JSON) names them."""
    return checked_terms({name: row[name] for name in TERM_FIELDS})


def _whole(body: Mapping[str, object], name: str, low: int, high: int, default: int) -> int:
    value = body.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise CommitmentInvalid(name, f"'{name}' must be a whole number from {low} to {high}.")
    return value


def _word(body: Mapping[str, object], name: str, words: tuple[str, ...], default: str) -> str:
    value = body.get(name, default)
    if value not in words:
        raise CommitmentInvalid(name, f"'{name}' must be one of: {', '.join(words)}.")
    return str(value)


def checked_terms(body: Mapping[str, object]) -> Terms:
    """Terms from an operator's JSON object, or CommitmentInvalid naming the field."""
    unknown = sorted(set(body) - set(TERM_FIELDS))
    if unknown:
        raise CommitmentInvalid(unknown[0], f"'{unknown[0]}' is not a commitment term.")
    if "period" not in body or "amount_micros" not in body:
        missing = "period" if "period" not in body else "amount_micros"
        raise CommitmentInvalid(missing, f"'{missing}' is required.")
    return Terms(
        period=_word(body, "period", PERIODS, "month"),
        amount_micros=_whole(body, "amount_micros", 1, MAX_EXACT // 16, 0),
        billing=_word(body, "billing", BILLINGS, "prepaid"),
        discount_bps=_whole(body, "discount_bps", 0, BPS - 1, 0),
        on_exhausted=_word(body, "on_exhausted", POLICIES, "overage"),
        overage_bps=_whole(body, "overage_bps", 0, MAX_OVERAGE_BPS, 0),
        rollover_bps=_whole(body, "rollover_bps", 0, BPS, 0),
        rollover_cap_micros=_whole(body, "rollover_cap_micros", 0, MAX_EXACT // 16, 0),
        rollover_periods=_whole(body, "rollover_periods", 1, MAX_ROLLOVER_PERIODS, 1),
    )


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def period_start(period: str, at_ms: int) -> int:
    """The UTC instant (ms) the period holding `at_ms` starts: the first of its month,
    quarter (January, April, July, October) or year."""
    at = datetime.fromtimestamp(at_ms / 1000, UTC)
    months = MONTHS[period]
    month = (at.month - 1) // months * months + 1
    return _ms(datetime(at.year, month, 1, tzinfo=UTC))


def period_after(period: str, start_ms: int, count: int = 1) -> int:
    """The start of the period `count` periods after the one starting at `start_ms`: the
    end of that one when `count` is 1."""
    at = datetime.fromtimestamp(start_ms / 1000, UTC)
    months = at.year * 12 + at.month - 1 + MONTHS[period] * count
    return _ms(datetime(months // 12, months % 12 + 1, 1, tzinfo=UTC))


def effective_bps(markup_bps: int, adjust_bps: int) -> int:
    """The one rate a call is priced at: the account's markup and a commitment's adjustment
    (a discount negative, an overage positive) multiplied, rounded up to whole basis points
    (never below -BPS + 1, so a price is never negative)."""
    rate = ceil_div((BPS + markup_bps) * (BPS + adjust_bps), BPS) - BPS
    return max(rate, 1 - BPS)


def hot_terms(terms: Terms) -> str:
    """The account hash's `cmt`: discount bps, policy letter, overage bps (reserve.lua)."""
    code = POLICY_CODES[terms.on_exhausted]
    return f"{terms.discount_bps}:{code}:{terms.overage_bps}"


@dataclass(frozen=True, slots=True)
class Tranche:
    """Money an earlier period rolled over: what is left of it, and the instant (ms) its
    grant ends (the end of the last period it may be drawn in)."""

    remaining_micros: int
    ends_ms: int


@dataclass(frozen=True, slots=True)
class Closing:
    """What a period's close writes. `charged` leaves the account once (written off when
    prepaid, billed in arrears); `rolled` comes back as a grant ending at `rolled_ends_ms`;
    `expired` is what rolled-in tranches ending now left unused (their grants' own write-off);
    `carried` the tranches that live on into the next period."""

    drawn_micros: int
    from_rollover_micros: int
    charged_micros: int
    rolled_micros: int
    rolled_ends_ms: int
    expired_micros: int
    carried: tuple[Tranche, ...]

    @property
    def true_up(self) -> bool:
        return self.charged_micros > 0


def allowance(committed_micros: int, tranches: tuple[Tranche, ...]) -> int:
    """What a period may draw at the commitment's price: its commitment and what rolled in."""
    return committed_micros + sum(t.remaining_micros for t in tranches)


def close(
    terms: Terms,
    start_ms: int,
    committed_micros: int,
    tranches: tuple[Tranche, ...],
    drawn_micros: int,
) -> Closing:
    """The close of the period starting at `start_ms`, which drew `drawn_micros` (capped at
    its allowance: a call drawn past it was priced and settled, but draws nothing more).
    Rolled-in tranches are drawn first, those ending soonest first."""
    end_ms = period_after(terms.period, start_ms)
    left = min(max(drawn_micros, 0), allowance(committed_micros, tranches))
    drawn = left
    carried: list[Tranche] = []
    expired = 0
    for tranche in sorted(tranches, key=lambda t: t.ends_ms):
        used = min(tranche.remaining_micros, left)
        left -= used
        rest = tranche.remaining_micros - used
        if tranche.ends_ms <= end_ms:
            expired += rest
        elif rest > 0:
            carried.append(Tranche(rest, tranche.ends_ms))
    unused = committed_micros - left
    rolled = min(unused * terms.rollover_bps // BPS, terms.rollover_cap_micros)
    rolled_ends = period_after(terms.period, start_ms, 1 + terms.rollover_periods)
    if rolled > 0:
        carried.append(Tranche(rolled, rolled_ends))
    return Closing(drawn, drawn - left, unused, rolled, rolled_ends, expired, tuple(carried))


def prepaid_share(prepaid_micros: int, tranches: tuple[Tranche, ...]) -> int:
    """What a period may draw that was paid before it: its prepayment (none in arrears) and
    what earlier periods rolled into it (bought by their prepayment or true-up)."""
    return prepaid_micros + sum(t.remaining_micros for t in tranches)


def applied_now(prepaid: int, drawn: int, counted: int, applied_before: int) -> int:
    """What an invoice charges back for one period (its `applied` line): what the period
    drew from money paid in advance, never more than that money, than the period's debits
    the invoices have counted so far, nor less than nothing; less what earlier invoices
    charged back. Over a period's invoices, it adds up to min(drawn, prepaid) once every
    debit is counted."""
    return max(0, min(prepaid, drawn, counted) - applied_before)


def entry_key(commitment_id: int, start_ms: int, what: str) -> str:
    """The key of the entry `what` (prepaid, unused, rollover) of the period starting at
    `start_ms`: written once, however often the keeper runs."""
    return f"{ENTRY_KEY_PREFIX}{commitment_id}:{start_ms}:{what}"
