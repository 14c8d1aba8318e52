"""Quota windows rebuilt from the ledger after `meterway ledger retention` detached months:
a `total` window counts what left with them (ledger_archived_usage), once, also when a
month was archived twice and while late rows of an archived month sit in DEFAULT.

Its own database: retention detaches every month before the cut, and rebuild reads every
account, so sharing the session's database would let other tests' months in."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime

from billing.money.admission import Admitted, QuotaRefused
from billing.money.plans import Plan, PlanBook
from billing.money.quotas import Quota
from gateway.ops.ledger_months import retain
from gateway.ops.rebuild import rebuild
from gateway.services.auth import new_id
from gateway.stores.connect import Stores
from gateway.stores.postgres import partitions
from gateway.stores.postgres.metering.metered import MeteringLedger
from gateway.stores.postgres.migrate import migrate
from gateway.stores.records import KeyRecord
from gateway.stores.redis.keys import shard_of
from gateway.stores.stream_fields import ledger_row
from tests.integration.conftest import archive_as_before_022, schema_at
from tests.support.harness import REDIS_URL, drop_prefix

NOW = datetime(2026, 11, 15, 12, tzinfo=UTC)  # retention's "now"
OLD = datetime(2018, 3, 10, 8, tzinfo=UTC)
ACCOUNT_TOTALS = (
    Quota("total", "requests", 1_000),
    Quota("total", "tokens", 1_000_000),
    Quota("total", "spend_micros", 1_000_000_000),
    Quota("total", "meter:gpu_seconds", 1_000_000),
)
KEY_TOTALS = (
    Quota("total", "requests", 5),
    Quota("total", "input_tokens", 1_000_000),
    Quota("total", "output_tokens", 1_000_000),
    Quota("total", "spend_micros", 1_000_000_000),
    Quota("total", "meter:gpu_seconds", 1_000_000),
)
PLANS = PlanBook({"pro": Plan("pro", 0, "prepaid", ACCOUNT_TOTALS, frozenset())}, "pro")


def _debit(
    acct: str, key: str, rid: str, at: datetime, cost: int, meter: str = ""
) -> tuple[object, ...]:
    ms = str(int(at.timestamp() * 1000))
    fields = {
        "rid": rid, "kind": "debit", "acct": acct, "key": key, "cost": str(cost),
        "model": "demo-gpt", "provider": "openai", "in": "30", "cin": "5", "cw": "1",
        "out": "20", "rsn": "0", "src": "provider", "at": ms, "st": ms,
    }  # fmt: skip
    if meter:
        fields.update(meter=meter, qty="7", svc="runner", occ="", md="")
        fields.update({"in": "0", "cin": "0", "cw": "0", "out": "0", "model": ""})
    return ledger_row(fields)


async def _holder(stores: Stores) -> KeyRecord:
    acct, key_id = new_id("acct"), new_id("key")
    await stores.ledger.create_account(acct, acct, "pro", "prepaid")
    await stores.ledger.credit(acct, 1_000_000, "seed", "seed")
    await stores.ledger.create_key(
        key_id=key_id, account_id=acct, name="k", key_hash=secrets.token_hex(32),
        key_prefix="mw-x", scopes=[], models=[], quotas=KEY_TOTALS, on_insufficient=None,
        expires_at=None,
    )  # fmt: skip
    return KeyRecord(key_id, acct, shard_of(acct), "k", (), ())


async def _totals(stores: Stores, key: KeyRecord) -> tuple[list[int], list[int]]:
    """(the account's total windows, the key's) after Redis is lost and rebuilt."""
    await drop_prefix(REDIS_URL, stores.store.keys.prefix)
    await rebuild(stores, PLANS)
    acct = await stores.store.window_counts(key.shard, "a", key.account_id, ACCOUNT_TOTALS)
    own = await stores.store.window_counts(key.shard, "k", key.key_id, KEY_TOTALS)
    return [w.used for w in acct], [w.used for w in own]


async def _one_more(stores: Stores, key: KeyRecord) -> object:
    rid = f"r-{secrets.token_hex(6)}"
    return await stores.store.reserve(rid, key, input_tokens=1, max_output_tokens=1, spend_micros=1)


async def test_total_windows_keep_what_retention_archived(own: Stores) -> None:
    key = await _holder(own)
    acct = key.account_id
    await partitions.add_months(own.pool, [date(2018, 3, 1)])
    rows = [_debit(acct, key.key_id, f"{acct}-old-{i}", OLD, 100) for i in range(3)]
    rows.append(_debit(acct, key.key_id, f"{acct}-old-m", OLD, 40, meter="gpu_seconds"))
    rows.append(_debit(acct, key.key_id, f"{acct}-now", datetime.now(UTC), 100))
    assert await own.ledger.write_settlements(rows) == 5
    # 4 LLM calls of 36 input and 20 output tokens each; the metered debit counts in spend
    expected = ([4, 224, 440, 7], [4, 144, 80, 440, 7])
    assert await _totals(own, key) == expected

    done = await retain(own, date(2018, 4, 1), NOW)
    assert [m.archive for m in done] == ["ledger_archive_2018_03"]
    assert await _totals(own, key) == expected
    assert isinstance(await _one_more(own, key), Admitted)  # the 5th request of 5
    meters = MeteringLedger(own.pool)
    whole = [{"meter": "gpu_seconds", "quantity": 7, "cost_micros": 40, "events": 1}]
    assert await meters.meter_usage(acct, None, None) == whole
    assert await meters.meter_usage(acct, datetime(2018, 3, 1, tzinfo=UTC), None) == whole
    assert await meters.meter_usage(acct, OLD, None) == whole  # cuts it: read from its table

    late = _debit(acct, key.key_id, f"{acct}-late", OLD, 100)  # lands in DEFAULT
    assert await own.ledger.write_settlements([late]) == 1
    expected = ([5, 280, 540, 7], [5, 180, 100, 540, 7])  # the 5th reserve never settled
    assert await _totals(own, key) == expected

    await partitions.add_months(own.pool, [date(2018, 3, 1)])  # takes the late row out of DEFAULT
    again = await retain(own, date(2018, 4, 1), NOW)
    assert [m.archive for m in again] == ["ledger_archive_2018_03_2"]
    assert await _totals(own, key) == expected
    assert isinstance(await _one_more(own, key), QuotaRefused)  # beyond the lifetime quota


_MAY_2019 = (
    "INSERT INTO ledger_entries (account_id, kind, amount_micros, request_id, key_id,"
    " input_tokens, cached_input_tokens, output_tokens, meter, quantity, occurred_at)"
    " VALUES ('a1', 'debit', -100, 'r1', 'k1', 10, 2, 5, NULL, NULL, '2019-05-02'),"
    " ('a1', 'debit', -40, 'r2', 'k1', 0, 0, 0, 'gpu_seconds', 7, '2019-05-03'),"
    " ('a1', 'void', 0, 'r3', 'k1', 9, 9, 9, NULL, NULL, '2019-05-03')"
)


async def test_migration_022_sums_months_archived_before_it() -> None:
    async with schema_at(21) as (_, conn):
        await conn.execute(_MAY_2019)
        await archive_as_before_022(conn, "2019_05")
        assert await migrate(conn, upto=22) == ["022_archived_usage.sql"]
        rows = await conn.fetch(
            "SELECT key_id, meter, requests, input_tokens, output_tokens, spend_micros,"
            " quantity, debits FROM ledger_archived_usage ORDER BY meter NULLS FIRST"
        )
    assert [tuple(r) for r in rows] == [
        ("k1", None, 1, 12, 5, 100, 0, 1),
        ("k1", "gpu_seconds", 0, 0, 0, 40, 7, 1),
    ]
