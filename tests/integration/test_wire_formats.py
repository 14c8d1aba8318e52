"""Every format Lua and Python share, round-tripped through the real scripts in Redis:
key names (quota counters included), the reservation record, the reserve reply, and the
settlement stream's message."""

from __future__ import annotations

import base64
from dataclasses import replace

from billing.metering.usage import Usage
from billing.money.admission import Admitted, BalanceRefused, NotReady, QuotaRefused, RateWindow
from billing.money.micros import marked_up
from billing.money.quotas import Quota
from billing.money.windows import calendar_period, sliding_granules
from gateway.stores import stream_fields
from gateway.stores.connect import Stores
from gateway.stores.meter_records import MeterHold
from gateway.stores.records import GrantEnd, OwnedFile, OwnedResponse, Settlement
from gateway.stores.redis.hotstore import HotStore
from gateway.stores.redis.keys import Keys, shard_of
from gateway.stores.redis.records import (
    HeldCounter,
    decode_grant_ends,
    decode_reservation,
    encode_grant_ends,
)
from gateway.workers.settler import Settler
from tests.integration.conftest import Holder, make_holder
from tests.support.replies import entries, present

MINUTE_TOKENS = Quota("minute", "tokens", 1_000)
DAY_REQUESTS = Quota("day", "requests", 10)
USAGE = Usage(input_tokens=40, cached_input_tokens=10, cache_write_tokens=3, output_tokens=7,
              reasoning_tokens=2, source="provider")  # fmt: skip


async def _admit(stores: Stores, h: Holder, rid: str = "rid-1") -> Admitted:
    decision = await stores.store.reserve(
        rid, h.record, input_tokens=30, max_output_tokens=20, spend_micros=900
    )
    assert isinstance(decision, Admitted), decision
    return decision


async def test_quota_counters_are_where_keys_names_them(stores: Stores) -> None:
    h = await make_holder(stores, key_quotas=(MINUTE_TOKENS,), account_quotas=(DAY_REQUESTS,))
    admitted = await _admit(stores, h)
    keys, redis = stores.store.keys, stores.store.redis
    sliding = keys.counter(h.shard, "k", h.record.key_id, MINUTE_TOKENS.code)
    fields, _ = sliding_granules("minute", admitted.now_ms)
    assert sum(int(v or 0) for v in await redis.hmget(sliding, fields)) == 50
    period, _ = calendar_period("day", admitted.now_ms, int(stores.store.tz_offset_ms()))
    calendar = Keys.period_counter(
        keys.counter(h.shard, "a", h.account_id, DAY_REQUESTS.code), period
    )
    assert int(await redis.get(calendar) or 0) == 1
    counts = await stores.store.window_counts(h.shard, "k", h.record.key_id, (MINUTE_TOKENS,))
    assert [c.used for c in counts] == [50]


async def test_reservation_record_round_trips(stores: Stores) -> None:
    h = await make_holder(stores, key_quotas=(MINUTE_TOKENS,), account_quotas=(DAY_REQUESTS,))
    admitted = await _admit(stores, h)
    keys = stores.store.keys
    raw = present(await stores.store.redis.hget(keys.reservations(h.shard), "rid-1"))
    record = decode_reservation(raw)
    assert (record.account_id, record.key_id, record.held_micros) == (
        h.account_id,
        h.record.key_id,
        900,
    )
    assert (record.requests, record.input_tokens, record.output_tokens) == (1, 30, 20)
    assert record.reserved_at_ms == admitted.now_ms
    granule = sliding_granules("minute", admitted.now_ms)[0][-1]
    period, _ = calendar_period("day", admitted.now_ms, int(stores.store.tz_offset_ms()))
    day = keys.counter(h.shard, "a", h.account_id, DAY_REQUESTS.code)
    minute = keys.counter(h.shard, "k", h.record.key_id, MINUTE_TOKENS.code)
    assert record.counters == (  # each with its window's limit, which settle.lua keeps to
        HeldCounter(minute, granule, "t", MINUTE_TOKENS.limit),
        HeldCounter(Keys.period_counter(day, period), "", "r", DAY_REQUESTS.limit),
    )
    # A record written before limits were kept (a rolling upgrade) reads with none.
    old = raw.decode().replace("|t<1000", "|t").replace("|r<10", "|r")
    assert decode_reservation(old).counters == (
        HeldCounter(minute, granule, "t"),
        HeldCounter(Keys.period_counter(day, period), "", "r"),
    )


async def test_an_uncollected_part_rides_its_own_message_to_the_receivables(
    stores: Stores,
) -> None:
    """settle.lua queues what a debit could not take as its own message (kind
    `uncollected`, UNCOLLECTED_FIELDS), packed or named; the settler writes it to
    `uncollected_debits`, never to the ledger, and it moved no balance (`queued`: 0)."""
    h = await make_holder(stores, credit=2_000)
    s = stores.store
    named = HotStore(s.redis, s.keys, reservation_ttl_s=60, settlement_messages="named")
    rids = f"{h.account_id}:p", f"{h.account_id}:n"
    for rid in rids:
        await _admit(stores, h, rid)  # 900 each
    for store, rid, cost in ((s, rids[0], 1_200), (named, rids[1], 1_100)):
        await store.settle(
            h.shard, h.account_id, rid, Settlement("demo-gpt", "openai", USAGE, cost)
        )
    messages = [f for _, f in entries(await s.redis.xrange(s.keys.stream(h.shard)))]
    assert [stream_fields.named(f)[stream_fields.KIND] for f in messages] == [
        b"debit",
        b"uncollected",
        b"debit",
        b"uncollected",
    ]
    packed, named_form = messages[1], messages[3]
    assert tuple(packed) == (stream_fields.ROW,)
    assert tuple(named_form) == stream_fields.UNCOLLECTED_FIELDS
    row = dict(zip(stream_fields.LEDGER_COLUMNS, stream_fields.ledger_row_raw(packed), strict=True))
    assert (row["kind"], row["amount_micros"], row["provider"]) == ("uncollected", -100, "openai")
    assert stream_fields.queued(packed) == (f"{h.account_id}:p", "uncollected", h.account_id, 0)
    await Settler(stores.settlement_stream(), stores.ledger).drain()
    owed = await stores.pool.fetch(
        "SELECT request_id, amount_micros, why FROM uncollected_debits WHERE account_id = $1"
        " ORDER BY request_id",
        h.account_id,
    )
    assert [tuple(r) for r in owed] == [
        (f"{h.account_id}:n", 200, "balance"),
        (f"{h.account_id}:p", 100, "balance"),
    ]
    assert await s.balance(h.account_id) == (0, 0)


async def test_grant_ends_round_trip_between_the_scripts_and_python(stores: Stores) -> None:
    """`gx`: credit.lua enters a grant's end, grant_end.lua sets one, write_off.lua leaves
    the rest reservations hold; records.py reads and writes the same text."""
    h = await make_holder(stores, credit=0)
    await stores.store.apply_credit(h.account_id, 9_001, 500, (7, 1_800_000_000_000))
    await stores.store.set_grant_end(h.account_id, GrantEnd(8, 300, 1_700_000_000_000))
    assert await stores.store.grant_ends(h.account_id) == (
        GrantEnd(7, 500, 1_800_000_000_000),
        GrantEnd(8, 300, 1_700_000_000_000),
    )
    await stores.store.put_grant_ends(h.account_id, [GrantEnd(8, 250, 1_700_000_000_000)])
    assert await stores.store.grant_ends(h.account_id) == (GrantEnd(8, 250, 1_700_000_000_000),)
    raw = present(await stores.redis.hget(stores.store.keys.account(h.shard, h.account_id), "gx"))
    assert decode_grant_ends(raw) == (GrantEnd(8, 250, 1_700_000_000_000),)
    assert encode_grant_ends(decode_grant_ends(raw)) == raw.decode()
    await stores.store.set_grant_end(h.account_id, GrantEnd(8, 0, 0))
    assert await stores.store.grant_ends(h.account_id) == ()


async def test_reserve_reply_decodes_admitted_and_refusals(stores: Stores) -> None:
    h = await make_holder(stores, key_quotas=(MINUTE_TOKENS,), account_quotas=(DAY_REQUESTS,))
    admitted = await _admit(stores, h)
    assert admitted.plan == "pro" and admitted.shard == h.shard
    assert admitted.tokens is not None and admitted.tokens.limit == 1_000
    assert admitted.tokens.remaining == 950
    assert admitted.requests == RateWindow(10, 9, admitted.requests.reset_at_ms)  # type: ignore[union-attr]
    refused = await stores.store.reserve(
        "rid-2", h.record, input_tokens=900, max_output_tokens=100, spend_micros=1
    )
    assert isinstance(refused, QuotaRefused)
    assert (refused.scope, refused.window, refused.metric) == ("key", "minute", "tokens")
    assert (refused.limit, refused.used, refused.requested) == (1_000, 50, 1_000)
    assert refused.plan == "pro" and refused.now_ms >= admitted.now_ms
    await stores.store.redis.delete(stores.store.keys.ready(h.shard))
    assert (
        await stores.store.reserve(
            "rid-3", h.record, input_tokens=1, max_output_tokens=1, spend_micros=1
        )
        == NotReady()
    )


async def test_settlement_message_round_trips_to_a_ledger_row(stores: Stores) -> None:
    h = await make_holder(stores)
    admitted = await _admit(stores, h)
    detail = (("service_tier", "flex"), ("web_searches", 2))
    settlement = Settlement("demo-gpt", "openai", USAGE, 321, "demo-gpt@1a2b", 268, detail)
    await stores.store.settle(h.shard, h.account_id, "rid-1", settlement)
    messages = entries(await stores.store.redis.xrange(stores.store.keys.stream(h.shard)))
    [(_, fields)] = messages
    assert tuple(fields) == (stream_fields.ROW,)  # one JSON array, in PRICED_FIELDS order
    assert tuple(stream_fields.named(fields)) == stream_fields.PRICED_FIELDS
    row = dict(zip(stream_fields.LEDGER_COLUMNS, stream_fields.ledger_row_raw(fields), strict=True))
    assert row == {
        "account_id": h.account_id,
        "kind": "debit",
        "amount_micros": -321,
        "request_id": "rid-1",
        "key_id": h.record.key_id,
        "model": "demo-gpt",
        "provider": "openai",
        "input_tokens": 40,
        "cached_input_tokens": 10,
        "cache_write_tokens": 3,
        "output_tokens": 7,
        "reasoning_tokens": 2,
        "usage_source": "provider",
        "occurred_at": row["occurred_at"],
        "meter": None,
        "quantity": None,
        "service": None,
        "metadata": None,
        "price_version": "demo-gpt@1a2b",
        "provider_cost_micros": 268,
        "usage_detail": '{"service_tier":"flex","web_searches":2}',
        "end_user": None,
    }
    assert int(stream_fields.named(fields)[stream_fields.RESERVED_AT]) == admitted.now_ms
    assert row["occurred_at"].timestamp() * 1000 >= admitted.now_ms
    assert stream_fields.queued(fields) == ("rid-1", "debit", h.account_id, 321)
    # The same message as versions before the packed row queued it makes the same row.
    assert stream_fields.ledger_row_raw(stream_fields.named(fields)) == tuple(row.values())
    # A row of fifteen values, queued before prices were recorded, reads with none.
    old = {k: v for k, v in stream_fields.named(fields).items() if k in stream_fields.FIELDS}
    for form in (old, stream_fields.packed(old)):
        read = dict(
            zip(stream_fields.LEDGER_COLUMNS, stream_fields.ledger_row_raw(form), strict=True)
        )
        assert read == {**row, "price_version": None, "provider_cost_micros": None,
                        "usage_detail": None}  # fmt: skip


async def test_a_debits_end_user_rides_the_message_to_its_ledger_row(stores: Stores) -> None:
    """settle.lua's ARGV 22 adds a nineteenth value (`eu` in the named form); a row of
    eighteen, queued before end users were recorded, reads with none."""
    h = await make_holder(stores)
    s = stores.store
    named = HotStore(s.redis, s.keys, reservation_ttl_s=60, settlement_messages="named")
    for store, rid in ((s, "rid-eu-1"), (named, "rid-eu-2")):
        await _admit(stores, h, rid)
        settlement = Settlement("demo-gpt", "openai", USAGE, 321, "demo-gpt@1", 300, (),
                                "cust_42@acme.example")  # fmt: skip
        await store.settle(h.shard, h.account_id, rid, settlement)
    packed, old = [f for _, f in entries(await s.redis.xrange(s.keys.stream(h.shard)))]
    assert tuple(stream_fields.named(packed)) == stream_fields.END_USER_FIELDS
    assert tuple(old) == stream_fields.END_USER_FIELDS
    for fields in (packed, old):
        row = dict(
            zip(stream_fields.LEDGER_COLUMNS, stream_fields.ledger_row_raw(fields), strict=True)
        )
        assert (row["end_user"], row["price_version"]) == ("cust_42@acme.example", "demo-gpt@1")
    before = {k: v for k, v in stream_fields.named(packed).items() if k != stream_fields.END_USER}
    repacked = stream_fields.ledger_row_raw(stream_fields.packed(before))
    assert repacked[-1] is None and repacked[-4] == "demo-gpt@1"
    await Settler(stores.settlement_stream(), stores.ledger).drain()
    written = await stores.pool.fetch(
        "SELECT end_user FROM ledger_entries WHERE request_id = ANY($1::text[])",
        ["rid-eu-1", "rid-eu-2"],
    )
    assert [r["end_user"] for r in written] == ["cust_42@acme.example"] * 2


async def test_a_void_of_a_call_carries_no_prices(stores: Stores) -> None:
    h = await make_holder(stores)
    await _admit(stores, h)
    await stores.store.void(h.shard, h.account_id, "rid-1")
    [(_, fields)] = entries(await stores.store.redis.xrange(stores.store.keys.stream(h.shard)))
    row = dict(zip(stream_fields.LEDGER_COLUMNS, stream_fields.ledger_row_raw(fields), strict=True))
    assert row["kind"] == "void" and row["amount_micros"] == 0
    assert (row["price_version"], row["provider_cost_micros"], row["usage_detail"]) == (None,) * 3


async def test_named_messages_for_a_rolling_upgrade_make_the_same_rows(stores: Stores) -> None:
    """SETTLEMENT_MESSAGES=named queues a field per value, as versions before the packed row
    did (their settlers read only that), for an LLM call and a meter alike."""
    h = await make_holder(stores, account_quotas=(Quota("day", "meter:gpu_seconds", 100),))
    s = stores.store
    named = HotStore(s.redis, s.keys, reservation_ttl_s=60, settlement_messages="named")
    hold = MeterHold(f"mtr_{h.shard}_" + "1" * 32, h.account_id, "", "gpu_seconds", 5, 2_000,
                     "svc", 60_000, True, metadata=b'{"n":1}')  # fmt: skip
    for store in (s, named):
        rid = f"rid-{id(store)}"
        await _admit(stores, h, rid)
        priced = Settlement("demo-gpt", "openai", USAGE, 6, "demo-gpt@v1", 5, (("x", 1),))
        await store.settle(h.shard, h.account_id, rid, priced)
    assert isinstance(await named.meters.hold(hold), Admitted)
    assert await named.meters.settle(hold.request_id, 3, 1_200)
    packed, old, meter = [f for _, f in entries(await s.redis.xrange(s.keys.stream(h.shard)))]
    assert tuple(packed) == (stream_fields.ROW,)
    assert tuple(old) == stream_fields.PRICED_FIELDS
    assert tuple(meter) == stream_fields.METERED_FIELDS
    moment = (stream_fields.REQUEST_ID, stream_fields.RESERVED_AT, stream_fields.SETTLED_AT)
    assert {k: v for k, v in stream_fields.named(packed).items() if k not in moment} == {
        k: v for k, v in old.items() if k not in moment
    }
    row = stream_fields.ledger_row_raw(meter)
    assert (row[14], row[15], row[17]) == ("gpu_seconds", 3, '{"n":1}')


async def test_metered_metadata_trails_the_record_and_reaches_the_ledger_row(
    stores: Stores,
) -> None:
    """The metadata is one trailing field after the counter triples: the scripts' counter
    loops never reach it, `decode_reservation` splits it off, and settle.lua puts it in the
    message as `md`, which the settler writes as the row's JSON."""
    gpu_day, gpu_minute = (
        Quota("day", "meter:gpu_seconds", 100),
        Quota("minute", "meter:gpu_seconds", 9),
    )
    h = await make_holder(stores, account_quotas=(gpu_day, gpu_minute))
    meta = b'{"job":"a|b","n":1}'
    hold = MeterHold(f"mtr_{h.shard}_" + "0" * 32, h.account_id, "", "gpu_seconds", 5, 2_000, "svc",
                     60_000, True, metadata=meta)  # fmt: skip
    decision = await stores.store.meters.hold(hold)
    assert isinstance(decision, Admitted), decision
    reservations = stores.store.keys.reservations(h.shard)
    raw = present(await stores.store.redis.hget(reservations, hold.request_id))
    record = decode_reservation(raw)
    assert base64.b64decode(record.metadata) == meta
    assert [c.metric for c in record.counters] == ["m.gpu_seconds"] * 2
    assert await stores.store.meters.settle(hold.request_id, 3, 1_200)
    [(_, fields)] = entries(await stores.store.redis.xrange(stores.store.keys.stream(h.shard)))
    row = dict(zip(stream_fields.LEDGER_COLUMNS, stream_fields.ledger_row_raw(fields), strict=True))
    assert (row["meter"], row["quantity"], row["metadata"]) == ("gpu_seconds", 3, meta.decode())
    old = stream_fields.named(fields)
    old.pop(stream_fields.METADATA)  # a named-field message queued before metadata existed
    old_row = dict(
        zip(stream_fields.LEDGER_COLUMNS, stream_fields.ledger_row_raw(old), strict=True)
    )
    assert old_row["metadata"] is None and old_row["price_version"] is None


async def test_settler_counts_written_rows_under_the_stats_key(stores: Stores) -> None:
    h = await make_holder(stores)
    await _admit(stores, h)
    await stores.store.void(h.shard, h.account_id, "rid-1")
    before = await stores.store.settled_total()
    await Settler(stores.settlement_stream(), stores.ledger).drain()
    assert await stores.store.settled_total() == before + 1
    settled = present(await stores.store.redis.get(stores.store.keys.settled_stat()))
    assert int(settled) == before + 1


async def test_reserve_marks_the_hold_up_by_the_account_markup(stores: Stores) -> None:
    """The account hash's `mk` scales the worst case before the balance check and the hold
    (reserve.lua's integers agree with billing.money.micros.marked_up), and the reply carries it."""
    spend = Quota("month", "spend_micros", 10_000)
    h = await make_holder(stores, credit=10_000, account_quotas=(spend,), markup_bps=2_000)
    keys = stores.store.keys
    for n, (asked, markup) in enumerate(((450, 2_000), (1, 2_000), (9_999, 1), (7, 0))):
        await stores.store.put_account(
            h.account_id,
            plan="pro",
            mode="prepaid",
            billing_ready=True,
            quotas=(spend,),
            markup_bps=markup,
        )
        decision = await stores.store.reserve(
            f"mk-{n}", h.record, input_tokens=1, max_output_tokens=1, spend_micros=asked
        )
        assert isinstance(decision, Admitted), decision
        assert decision.markup_bps == markup
        assert decision.held_micros == marked_up(asked, markup)
        raw = present(await stores.store.redis.hget(keys.reservations(h.shard), f"mk-{n}"))
        assert decode_reservation(raw).held_micros == decision.held_micros
        await stores.store.release(h.shard, h.account_id, f"mk-{n}")
    assert marked_up(450, 2_000) == 540
    # The balance check sees the marked-up spend: 9,000 fits 10,000, its 10,800 does not.
    await stores.store.put_account(h.account_id, plan="pro", mode="prepaid", billing_ready=True,
                                   quotas=(), markup_bps=2_000)  # fmt: skip
    refused = await stores.store.reserve(
        "mk-big", h.record, input_tokens=1, max_output_tokens=1, spend_micros=9_000
    )
    assert refused == BalanceRefused("insufficient_balance", 10_000, "pro", 2_000)


async def test_reserve_charges_a_scheduled_markup_from_its_time_by_its_own_clock(
    stores: Stores,
) -> None:
    """A markup change scheduled on the hot record (`mkn` from `mka`) is what reserve.lua
    marks up by once its clock reaches `mka`, and not a millisecond before: the same
    round trip, no other read. Clearing it leaves the current markup."""
    h = await make_holder(stores, credit=100_000, markup_bps=500)
    seconds, micros = await stores.store.redis.time()
    now_ms = seconds * 1000 + micros // 1000

    async def markup_with(next_markup: tuple[int, int] | None, n: str) -> int:
        await stores.store.put_account(h.account_id, plan="pro", mode="prepaid",
                                       billing_ready=True, quotas=(), markup_bps=500,
                                       next_markup=next_markup)  # fmt: skip
        decision = await stores.store.reserve(
            f"mkn-{n}", h.record, input_tokens=1, max_output_tokens=1, spend_micros=450
        )
        assert isinstance(decision, Admitted), decision
        assert decision.held_micros == marked_up(450, decision.markup_bps)
        await stores.store.release(h.shard, h.account_id, f"mkn-{n}")
        return decision.markup_bps

    assert await markup_with((2_000, now_ms + 60_000), "ahead") == 500
    assert await markup_with((2_000, now_ms - 1), "due") == 2_000
    assert await markup_with((0, now_ms - 1), "to-zero") == 0
    assert await markup_with(None, "none") == 500
    fields = await stores.store.redis.hmget(
        stores.store.keys.account(h.shard, h.account_id), "mkn", "mka"
    )
    assert fields == [None, None]


async def test_a_meter_is_never_marked_up(stores: Stores) -> None:
    h = await make_holder(stores, markup_bps=5_000)
    hold = MeterHold(f"mtr_{h.shard}_" + "2" * 32, h.account_id, "", "gpu_seconds", 5, 2_000,
                     "svc", 60_000, True)  # fmt: skip
    decision = await stores.store.meters.hold(hold)
    assert isinstance(decision, Admitted), decision
    assert (decision.held_micros, decision.markup_bps) == (2_000, 0)


async def test_a_batch_files_record_round_trips_with_its_lines_worst_case(stores: Stores) -> None:
    """What a batch reserves (its lines' worst cases, summed at upload) survives Redis; a
    record written before it was kept reads as 0 (the sums' worst case)."""
    files = stores.owned_files()
    rec = OwnedFile("file-w", "key_1", "acct_1", "gpt-5.4", "/v1/chat/completions", 8, 1, 2, 3, 4)
    await files.put(rec)
    assert await files.get("file-w") == rec
    old = OwnedFile("file-o", "key_1", "acct_1", "gpt-5.4", "/v1/chat/completions", 8, 1, 2, 3)
    await files.put(old)
    await stores.redis.hdel(stores.store.keys.owned_file("file-o"), "worst_micros")
    assert await files.get("file-o") == old


async def test_an_output_files_batch_and_a_settled_debit_round_trip(stores: Stores) -> None:
    """An output file names its batch; a settled response or batch keeps the debit its
    settlement queued, and a record settled before that was kept reads None."""
    files = stores.owned_files()
    out = OwnedFile("file-b", "key_1", "acct_1", "gpt-4o-mini", "", 0, 0, 0, 0, 0, "batch_1")
    await files.put(out)
    assert await files.get("file-b") == out
    owned = stores.owned_batches()
    rec = OwnedResponse("batch_1", "key_1", "acct_1", 3, "req_1", "gpt-4o-mini", 10, 900, True)
    await owned.record(rec, 0)
    assert await owned.get("batch_1") == rec
    await owned.settled("batch_1", 417)
    assert await owned.get("batch_1") == replace(rec, pending=False, cost_micros=417)
    released = replace(rec, response_id="batch_2")
    await owned.record(released, 0)
    await owned.settled("batch_2")
    assert await owned.get("batch_2") == replace(released, pending=False)


async def test_reserve_hands_back_the_accounts_byok_version(stores: Stores) -> None:
    """The account hash's `bk` (services/contracts/byok.py) rides every admission back, 0 while the
    account never changed its own keys; a missing hot record is not created by it."""
    h = await make_holder(stores)
    first = await stores.store.reserve(
        "rid-bk-1", h.record, input_tokens=1, max_output_tokens=1, spend_micros=1
    )
    assert isinstance(first, Admitted) and first.byok_version == 0
    await stores.store.set_byok_version(h.account_id, 1_764_000_000_123)
    again = await stores.store.reserve(
        "rid-bk-2", h.record, input_tokens=1, max_output_tokens=1, spend_micros=1
    )
    assert isinstance(again, Admitted) and again.byok_version == 1_764_000_000_123
    checked = await stores.store.reserve(
        "rid-bk-3", h.record, input_tokens=0, max_output_tokens=0, spend_micros=0, mode="key"
    )
    assert isinstance(checked, Admitted) and checked.byok_version == 1_764_000_000_123
    await stores.store.set_byok_version("acct_nowhere", 5)
    name = stores.store.keys.account(shard_of("acct_nowhere"), "acct_nowhere")
    assert not await stores.store.redis.exists(name)
