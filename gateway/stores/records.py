# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""Plain values that cross the store ports, free of any client library.

Kept whole: the values crossing the ports have one home, so both adapters and every service
agree on them.

Services and handlers see these, never a Redis reply or an asyncpg Record, so a fake store
in a unit test returns exactly what the real one does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final, Literal, NamedTuple, final

from billing.metering.usage import Usage
from billing.values import Value
from gateway.stores.stream_fields import ACCOUNT, REQUEST_ID

Row = Mapping[str, Any]  # one ledger row by column name (a dict, never an asyncpg Record)
KeyState = Literal["active", "paused", "revoked"]  # a key's state, as put_key writes it


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """The immutable facts about an API key, cached per process once looked up."""

    key_id: str
    account_id: str
    shard: int
    name: str
    scopes: tuple[str, ...]
    models: tuple[str, ...]
    on_insufficient: str | None = None
    providers: tuple[str, ...] = ()  # the only providers its calls may go to; () any
    # The keys it was minted under, nearest first: its calls count in their windows too.
    ancestors: tuple[str, ...] = ()


MONEY_OUT_ID = re.compile(r"^out_([0-9]{1,2})_[0-9a-f]{32}$")


LEASE_ID = re.compile(r"^lse_([0-9]{1,2})_[0-9a-f]{32}$")


def is_lease(reservation_id: str) -> bool:
    """Whether a reservation id names a lease (stores/redis/leases/process.py): the sweeper closes
    one by applying what its process appended, then giving back the rest."""
    return LEASE_ID.match(reservation_id) is not None


def is_money_out(request_id: str) -> bool:
    """Whether a reservation id names a money-out hold (stores/redis/holds/money_out.py): the
    sweeper resolves those by the ledger instead of voiding them."""
    return MONEY_OUT_ID.match(request_id) is not None


@dataclass(frozen=True, slots=True)
class MoneyOutHold:
    """Money an operator takes out, held until its ledger entry is applied or it is given
    back: `kind` adjustment (its entry keyed by `key`) or refund (its claim keyed by `key`,
    on `payment_id`). `hold_id` is made from kind, account and key
    (stores/redis/holds/money_out.py)."""

    hold_id: str
    account_id: str
    amount_micros: int
    kind: str
    key: str
    payment_id: str | None = None


@dataclass(frozen=True, slots=True)
class AccountFacts:
    """What Redis knows of an account that its next step reads (billing.money.next_step), for a
    429 decided from the same facts as `billing status`: `available_micros` as
    `HotBalance.available`."""

    mode: str
    billing_ready: bool
    in_grace: bool
    pending: bool
    available_micros: int


class HotBalance(NamedTuple):
    """An account's money as Redis holds it. `available`: what reserve.lua lets it spend
    now: the balance less what is held and what ended grants still hold (GrantEnd), plus its
    credit line (its floor is minus the line)."""

    balance: int
    held: int
    available: int


@dataclass(frozen=True, slots=True)
class Lineage:
    """Who minted a key and what it inherits from its minter: its owner (the member whose
    reach it carries; None: the organization's) and its team."""

    minter_kind: str = "operator"  # operator, person or key
    minter_id: str | None = None  # the member, `sub:<subject>`, or the minting key
    owner: str | None = None
    team_id: str | None = None
    ancestors: tuple[str, ...] = ()  # the minting key and the keys it was minted under
    secret_bound: bool = False  # a token that ends when its minting key's secret does


def minted_by_key(parent: Row) -> Lineage:
    """What a key minted by the key `parent` (its row) inherits: its owner, its team, and
    its place under it and under every key above it."""
    above = (parent["id"], *(parent.get("ancestors") or ()))
    return Lineage("key", parent["id"], parent.get("member_id"), parent.get("team_id"), above)


OPERATOR_MINTED = Lineage()
# The columns of a key that belong to its secret, not to what it may do: rotation copies
# every other column of `api_keys` (tests/e2e/test_key_lineage.py holds it to that). A new
# secret's `ancestors` are the old secret's with the old secret first: it counts in the old
# secret's windows, so rotating never resets a cap.
PER_SECRET = frozenset(
    {"id", "key_hash", "key_prefix", "created_at", "revoked_at", "rotated_from", "ancestors"}
)


@final
class Settlement(Value):
    """What a finished call consumed and costs; settle.lua moves it into the stream."""

    def __init__(
        self,
        model: str,
        provider: str,
        usage: Usage,
        cost_micros: int,
        price_version: str = "",
        provider_cost_micros: int | None = None,
        detail: tuple[tuple[str, int | str], ...] = (),
        end_user: str = "",
    ) -> None:
        self.model: Final = model
        self.provider: Final = provider
        self.usage: Final = usage
        self.cost_micros: Final = cost_micros  # charged: the provider cost marked up
        self.price_version: Final = price_version  # the rate card that priced it (billing.pricing)
        # Before markup; None means equal to cost_micros
        self.provider_cost_micros: Final = provider_cost_micros
        self.detail: Final = detail  # priced dimensions beyond the columns
        self.end_user: Final = end_user  # the request's end user, recorded on its debit ('' none)


@dataclass(frozen=True, slots=True)
class CreditResult:
    entry_id: int
    amount_micros: int
    created: bool
    created_at: datetime
    grant_id: int | None = None  # the grant a new credit funded (None on a replay)


@dataclass(frozen=True, slots=True)
class GrantEnd:
    """A credit grant with an end, as the account hash's `gx` holds it (its wire format:
    stores/redis/records.py): once Redis's clock reaches `end_ms`, `rest_micros` (at most
    what the grant still holds) is not spendable by reserve.lua or settle.lua."""

    grant_id: int
    rest_micros: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class GrantSpec:
    """The grant a credit funds (billing/money/credit_grants.py): a plain top-up is `paid`, never
    expiring, at the default priority. `refund_of`: on a refund, the idempotency key of the
    credit it returns money from (its grant gives it back)."""

    kind: str = "paid"
    expires_at: datetime | None = None
    priority: int = 50
    reason: str | None = None
    refund_of: str | None = None


@dataclass(frozen=True, slots=True)
class EventRef:
    """A payment provider's event, recorded as applied in the transaction of its effect."""

    provider: str
    event_id: str
    type: str


@dataclass(frozen=True, slots=True)
class Backlog:
    """Settlements queued in Redis and not yet in the ledger."""

    length: int
    oldest_age_ms: int


@dataclass(frozen=True, slots=True)
class Queued:
    """One settlement message read from its shard's stream, its fields as Redis holds them
    (the settler turns them into a ledger row with `stream_fields.ledger_row_raw`)."""

    shard: int
    message_id: str
    fields: Mapping[bytes, bytes]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A settlement message the ledger could not take, parked with why. Its cost was taken
    from the Redis balance and is not in the ledger: reconcile counts it as queued, and
    `meterway settler dead-letters --requeue` sends it back once the cause is fixed."""

    shard: int
    entry_id: str  # in the dead-letter stream
    message_id: str  # it had in the settlement stream
    reason: str
    parked_at_ms: int
    fields: Mapping[bytes, bytes]  # as named fields (stream_fields.named), where readable

    @property
    def request_id(self) -> str:
        return self.fields.get(REQUEST_ID, b"").decode(errors="replace")

    @property
    def account_id(self) -> str:
        return self.fields.get(ACCOUNT, b"").decode(errors="replace")


@dataclass(frozen=True, slots=True)
class WindowCount:
    """How much of one quota window is used now, and when it resets (None: never)."""

    used: int
    resets_at_ms: int | None


# Every kind of ledger entry (the ledger's CHECK constraint, migration 036).
LEDGER_KINDS = (
    "debit",
    "void",
    "credit",
    "adjustment",
    "refund",
    "expire",
    "true_up",
    "commitment_expire",
)


@dataclass(frozen=True, slots=True)
class EntryFilter:
    """Which ledger rows a page keeps (None: any): a kind of LEDGER_KINDS, a model, one key,
    the keys of one team (as the key's team is now), [since, until) of occurred_at, and the
    keys one member owns (a caller kept to their own keys)."""

    kind: str | None = None
    model: str | None = None
    key_id: str | None = None
    team_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    member_id: str | None = None  # the keys one member owns ('' : none)


NO_FILTER = EntryFilter()


def request_entry_of(rows: Sequence[Row]) -> Row:
    """The one row that answers for a request: its debit (a late debit too, beating the void
    before it), else its newest row."""
    return min(rows, key=lambda r: (r["kind"] != "debit", -r["id"]))


# What a usage row is a use of (the `kind` dimension): tokens, else images, audio, speech
# (characters), or a meter's units.
USAGE_KINDS = ("tokens", "images", "audio", "speech", "metered", "tools")
GroupBy = Literal[
    "day", "model", "key", "meter", "team", "member", "week", "month", "kind", "end_user"
]
# The sums of a usage report bucket, as the rollups keep them.
USAGE_FIELDS = (
    "requests",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "spend_micros",
    "quantity",  # units of a meter (group by meter to read them per meter)
    "images",  # images made by models priced per image
    "audio_seconds",  # seconds of audio billed per minute (whisper-1)
    "characters",  # characters billed per character (tts-1)
)
# Beside them in a usage report: the provider's cost of the spend (the spend is what was
# charged, marked up), and the gross margin between them (reports.py).
COST_FIELDS = ("provider_cost_micros",)
MARGIN_FIELDS = (*COST_FIELDS, "gross_margin_micros")


@dataclass(frozen=True, slots=True)
class OwnedFile:
    """A file a key uploaded for a batch (its lines' model, route and summed worst case,
    read when it was uploaded), or one its batch produced (lines 0: nothing to price)."""

    file_id: str
    key_id: str
    account_id: str
    model: str
    endpoint: str  # the route every line calls, "/v1/chat/completions"
    lines: int
    input_tokens: int  # summed over the lines
    output_tokens: int  # the lines' output bounds, summed
    fees_micros: int
    # Each line's worst case at batch rates (its own band), summed when it was uploaded: what
    # its batch reserves. 0 for a record written before it was kept (the sums' worst case).
    worst_micros: int = 0
    batch_id: str = ""  # the batch whose output file this is ('' : an input or error file)


@dataclass(frozen=True, slots=True)
class OwnedResponse:
    """Which key created a Responses API response, and (while `pending`) its open reservation."""

    response_id: str
    key_id: str
    account_id: str
    shard: int
    request_id: str  # the reservation's id
    model: str  # the priced model name
    input_tokens: int  # counted at admission: billed if the provider never reports usage
    held_micros: int
    pending: bool  # the reservation is still open
    markup_bps: int = 0  # the markup it was admitted with: its late settlement charges it
    admitted_at_ms: int = 0  # Redis clock at admission: its prices are those then in force
    # The debit its late settlement queued (None: not settled here, or before it was kept),
    # answered until the settler has written the ledger's row.
    cost_micros: int | None = None
    # Its tokens' worst case at admission (services/metering.worst_case_micros): what caps
    # its late debit as a foreground call's is (0: a record from before it was kept).
    worst_micros: int = 0


@final
class PendingDebit(Value):
    """A completed call's priced usage that Redis could not take before its gateway stopped;
    kept in PostgreSQL until the sweeper debits it (never voids it). It carries the
    settlement whole, so a field added to Settlement is one edit here too (the spool's
    columns, stores/postgres/money/pending.py, say which of them it keeps)."""

    def __init__(
        self, request_id: str, account_id: str, shard: int, settlement: Settlement
    ) -> None:
        self.request_id: Final = request_id
        self.account_id: Final = account_id
        self.shard: Final = shard
        self.settlement: Final = settlement


@dataclass(frozen=True, slots=True)
class HotPosition:
    """An account's hot balance and the fence it was read under (see repair.lua): the
    balance's change counter and how many ledger credits Redis applied. `queued` holds the
    account's settlements still in its stream, (request id, kind) -> cost micros: taken
    from the balance, maybe not yet (or just) written to the ledger."""

    account_id: str
    balance: int
    seq: int
    applied_credits: int
    queued: Mapping[tuple[str, str], int]

    @property
    def queued_micros(self) -> int:
        return sum(self.queued.values())


@dataclass(frozen=True, slots=True)
class ClosedMarker:
    """A metered request id's closed marker as settle.lua writes it (`kind|qty|cost`), to
    be restored from its ledger row with the time it has left (`ttl_ms`)."""

    account_id: str
    request_id: str
    kind: str
    quantity: int
    cost_micros: int
    ttl_ms: int


@dataclass(frozen=True, slots=True)
class MonthAdded:
    month: date
    created: bool
    moved: int  # rows that left the DEFAULT partition for the new month


@dataclass(frozen=True, slots=True)
class MonthSummary:
    """A month's partition: what detaching it would take out of the live ledger."""

    month: date
    table: str
    entries: int
    amount_micros: int
    accounts: int

    archive: str = ""  # the archive table it went to, once detached


@dataclass(frozen=True, slots=True)
class Journaled:
    """A settlement the local journal holds (stores/journal.py): its debit, the key it was
    admitted under (a late debit names it), and for a call admitted under a lease that
    lease's append again (lease id, its stream, its seen set, the entry), which a retry
    from any process writes unless Redis has it already."""

    debit: PendingDebit
    key_id: str
    lease: tuple[str, str, str, str] | None = None
