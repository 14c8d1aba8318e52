"""No settle takes more than the account has free, nor more than a window allows
(issue 46, item 1): the real scripts in Redis, the real settler, the real ledger.

A debit above its hold takes the excess only from what the balance has free (not held by
other reservations, above the floor) and what each spend window has free; the rest is the
operator's receivable (`uncollected_debits`), never the customer's negative balance.
"""

from __future__ import annotations

from billing.metering.usage import Usage
from billing.money.quotas import Quota
from gateway.stores.connect import Stores
from gateway.stores.ports.hot import UNCOLLECTED
from gateway.stores.records import KeyRecord, Settlement
from gateway.stores.redis.hotstore import DEBITED
from gateway.telemetry import metrics
from gateway.workers.settler import Settler
from tests.integration.conftest import make_holder
from tests.support.invariants import Window, check_invariants, money_violations

USAGE = Usage(input_tokens=40, output_tokens=7)
HOUR_SPEND = Quota("hour", "spend_micros", 1_000)


async def _reserve(stores: Stores, record: KeyRecord, rid: str, spend: int) -> None:
    decision = await stores.store.reserve(
        _rid(record.account_id, rid),
        record,
        input_tokens=50,
        max_output_tokens=20,
        spend_micros=spend,
    )
    assert getattr(decision, "held_micros", None) == spend, decision


def _rid(account_id: str, rid: str) -> str:
    """Request ids are unique across the session's database, as the gateway's are."""
    return f"{account_id}:{rid}"


def _debit(cost: int) -> Settlement:
    return Settlement("demo-gpt", "openai", USAGE, cost)


async def _uncollected(stores: Stores, account_id: str) -> list[tuple[str, int, str]]:
    rows = await stores.pool.fetch(
        "SELECT request_id, amount_micros, why FROM uncollected_debits WHERE account_id = $1"
        " ORDER BY request_id",
        account_id,
    )
    return [(r["request_id"].split(":")[-1], r["amount_micros"], r["why"]) for r in rows]


async def test_a_debit_above_its_hold_takes_only_what_other_holds_leave(stores: Stores) -> None:
    h = await make_holder(stores, credit=1_000)
    await _reserve(stores, h.record, "r1", 600)
    await _reserve(stores, h.record, "r2", 400)
    assert (
        await stores.store.settle(h.shard, h.account_id, _rid(h.account_id, "r1"), _debit(900))
        == DEBITED + UNCOLLECTED * 300  # the reply says what was not collected
    )
    assert await stores.store.balance(h.account_id) == (400, 400)  # r2's hold is intact
    assert (
        await stores.store.settle(h.shard, h.account_id, _rid(h.account_id, "r2"), _debit(450))
        == DEBITED + UNCOLLECTED * 50  # the reply says what was not collected
    )
    assert await stores.store.balance(h.account_id) == (0, 0)
    counted = metrics().uncollected.labels("openai")._value.get()
    await Settler(stores.settlement_stream(), stores.ledger).drain()
    assert await _uncollected(stores, h.account_id) == [
        ("r1", 300, "balance"),
        ("r2", 50, "balance"),
    ]
    assert metrics().uncollected.labels("openai")._value.get() - counted == 350
    alerts = await stores.pool.fetch(
        "SELECT payload FROM notify_outbox WHERE account_id = $1 AND event = 'debit.uncollected'",
        h.account_id,
    )
    assert len(alerts) == 1  # one an hour per account, naming the first
    await check_invariants(stores, [h.account_id])
    assert await money_violations(stores, [h.account_id]) == []


async def test_a_debit_above_its_hold_takes_what_is_free(stores: Stores) -> None:
    """Free money pays the excess in full: nothing is uncollected."""
    h = await make_holder(stores, credit=10_000)
    await _reserve(stores, h.record, "r1", 600)
    assert (
        await stores.store.settle(h.shard, h.account_id, _rid(h.account_id, "r1"), _debit(900))
        == DEBITED
    )
    assert await stores.store.balance(h.account_id) == (9_100, 0)
    await Settler(stores.settlement_stream(), stores.ledger).drain()
    assert await _uncollected(stores, h.account_id) == []


async def test_a_spend_window_never_passes_its_limit(stores: Stores) -> None:
    h = await make_holder(stores, credit=100_000, key_quotas=(HOUR_SPEND,))
    await _reserve(stores, h.record, "r1", 600)
    assert (
        await stores.store.settle(h.shard, h.account_id, _rid(h.account_id, "r1"), _debit(1_500))
        == DEBITED + UNCOLLECTED * 500  # the reply says what was not collected
    )
    assert await stores.store.balance(h.account_id) == (99_000, 0)
    counts = await stores.store.window_counts(h.shard, "k", h.record.key_id, (HOUR_SPEND,))
    assert [c.used for c in counts] == [1_000]
    await Settler(stores.settlement_stream(), stores.ledger).drain()
    assert await _uncollected(stores, h.account_id) == [("r1", 500, "window")]
    await check_invariants(stores, [h.account_id])


async def test_a_late_debit_after_a_void_takes_only_what_is_free(stores: Stores) -> None:
    h = await make_holder(stores, credit=1_000)
    await _reserve(stores, h.record, "r1", 600)
    assert await stores.store.void(h.shard, h.account_id, _rid(h.account_id, "r1"))
    await _reserve(stores, h.record, "r2", 800)
    await stores.store.settle(h.shard, h.account_id, _rid(h.account_id, "r1"), _debit(500))
    assert await stores.store.balance(h.account_id) == (800, 800)
    await stores.store.settle(h.shard, h.account_id, _rid(h.account_id, "r2"), _debit(800))
    assert await stores.store.balance(h.account_id) == (0, 0)
    await Settler(stores.settlement_stream(), stores.ledger).drain()
    assert await _uncollected(stores, h.account_id) == [("r1", 300, "balance")]
    await check_invariants(stores, [h.account_id])


async def test_a_credit_line_is_the_floor(stores: Stores) -> None:
    h = await make_holder(stores, credit=0)
    await stores.store.set_credit_line(h.account_id, 500)
    await _reserve(stores, h.record, "r1", 400)
    refused = await stores.store.reserve(
        _rid(h.account_id, "r2"), h.record, input_tokens=1, max_output_tokens=1, spend_micros=200
    )
    assert getattr(refused, "available_micros", None) == 100, refused
    assert (
        await stores.store.settle(h.shard, h.account_id, _rid(h.account_id, "r1"), _debit(900))
        == DEBITED + UNCOLLECTED * 400  # the reply says what was not collected
    )
    assert await stores.store.balance(h.account_id) == (-500, 0)
    await Settler(stores.settlement_stream(), stores.ledger).drain()
    assert await _uncollected(stores, h.account_id) == [("r1", 400, "balance")]


async def test_a_postpaid_account_without_a_credit_line_has_no_floor(stores: Stores) -> None:
    h = await make_holder(stores, credit=0, mode="postpaid")
    await _reserve(stores, h.record, "r1", 400)
    assert (
        await stores.store.settle(h.shard, h.account_id, _rid(h.account_id, "r1"), _debit(900))
        == DEBITED
    )
    assert await stores.store.balance(h.account_id) == (-900, 0)


async def test_money_violations_names_each_broken_promise(stores: Stores) -> None:
    """The checker the simulation runs between steps must be able to fail."""
    h = await make_holder(stores, credit=1_000, key_quotas=(HOUR_SPEND,))
    window = Window(h.account_id, "k", h.record.key_id, HOUR_SPEND)
    assert await money_violations(stores, [h.account_id], [window]) == []
    await _reserve(stores, h.record, "r1", 600)
    await stores.store.settle(h.shard, h.account_id, _rid(h.account_id, "r1"), _debit(600))
    name = stores.store.keys.account(h.shard, h.account_id)
    await stores.redis.hset(name, "bal", -5)  # as a debit past the balance once left it
    counter = stores.store.keys.counter(h.shard, "k", h.record.key_id, HOUR_SPEND.code)
    await stores.redis.hincrby(counter, (await stores.redis.hkeys(counter))[0], 5_000)
    assert await money_violations(stores, [h.account_id], [window]) == [
        f"{h.account_id}: balance -5 below its floor 0",
        f"{h.account_id}: available -5 below its floor 0",
        f"k:{h.record.key_id} {HOUR_SPEND.code}: 5600 > 1000",
    ]


async def test_a_correction_never_lifts_a_token_window_past_its_limit(stores: Stores) -> None:
    """More input reported than counted raises the token windows by the difference, but
    never past their limit (the window is then full, refusing as if over)."""
    minute_tokens = Quota("minute", "tokens", 100)
    h = await make_holder(stores, credit=100_000, key_quotas=(minute_tokens,))
    await _reserve(stores, h.record, "r1", 600)  # 50 input + 20 output tokens held
    usage = Usage(input_tokens=200, output_tokens=5)
    settlement = Settlement("demo-gpt", "openai", usage, 600)
    await stores.store.settle(h.shard, h.account_id, _rid(h.account_id, "r1"), settlement)
    counts = await stores.store.window_counts(h.shard, "k", h.record.key_id, (minute_tokens,))
    assert [c.used for c in counts] == [100]
    window = Window(h.account_id, "k", h.record.key_id, minute_tokens)
    assert await money_violations(stores, [h.account_id], [window]) == []
