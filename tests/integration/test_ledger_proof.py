"""The ledger's checkpoints against real PostgreSQL: sealed and verified, then each kind of
quiet edit an operator with SQL could make (an amount, a deleted entry, two entries'
order, an entry added into a sealed range, a checkpoint deleted or changed) is named by
verify; a row that commits late below sealed ids is never sealed over; archived months
still verify, a dropped archive is "not checked", not an edit; two sealers at once leave
one unbroken chain. Its own database: verify reads every account."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import pytest

from billing.proof.ledger_proof import LEAF_COLUMNS
from gateway.config.proof import ProofSettings
from gateway.ops.ledger_months import retain
from gateway.services.auth import new_id
from gateway.services.proof.ledger_seal import seal, verify
from gateway.services.proof.signing_keys import SigningKeys, new_seed, unb64url
from gateway.stores.connect import Stores
from gateway.stores.postgres import partitions
from tests.integration.conftest import settled_row

KEYS = SigningKeys(ProofSettings(signing_seed=unb64url(new_seed())))


async def _ledger(stores: Stores, n: int) -> str:
    acct = new_id("acct")
    await stores.ledger.create_account(acct, acct, "pro", "prepaid")
    now = datetime.now(UTC)
    rows = [settled_row(acct, f"r{i}-{acct}", 10 + i, now) for i in range(n)]
    assert await stores.ledger.write_settlements(rows) == n
    return acct


async def _by_hand(stores: Stores, *statements: str) -> None:
    """What an operator with the database's superuser can do: triggers off for a session."""
    async with stores.pool.acquire() as conn:
        await conn.execute("SET session_replication_role = replica")
        try:
            for sql in statements:
                await conn.execute(sql)
        finally:
            await conn.execute("RESET session_replication_role")


async def test_a_leaf_holds_every_column_the_ledger_has(own: Stores) -> None:
    """A migration that adds a column to ledger_entries fails here until a new leaf version
    covers it: an unsealed column would be an edit nobody sees."""
    columns = await own.pool.fetch(
        "SELECT attname FROM pg_attribute WHERE attrelid = 'ledger_entries'::regclass"
        " AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
    )
    assert tuple(r["attname"] for r in columns) == LEAF_COLUMNS


async def test_sealed_entries_verify_and_every_checkpoint_is_signed(own: Stores) -> None:
    await _ledger(own, 25)
    port = own.ledger_proof()
    assert await seal(port, KEYS, max_rows=10) == 3
    assert await seal(port, KEYS, max_rows=10) == 0  # nothing new: no empty checkpoint
    verdict = await verify(port, KEYS)
    assert verdict.ok and verdict.unchecked == [] and verdict.unsigned == 0
    assert (verdict.checkpoints, verdict.entries) == (3, 25)
    assert verdict.sealed_through == await own.pool.fetchval("SELECT max(id) FROM ledger_entries")


_COPY = (
    "INSERT INTO ledger_entries SELECT id, account_id, kind, amount_micros, request_id || 'x',"
    " idempotency_key, key_id, model, provider, input_tokens, cached_input_tokens,"
    " cache_write_tokens, output_tokens, reasoning_tokens, usage_source, reason,"
    " occurred_at + interval '1 second', created_at, meter, quantity, service, metadata,"
    " price_version, provider_cost_micros, usage_detail, end_user, tags"
    " FROM ledger_entries WHERE id = {0}"
)
# Each edit of entry {0} (and {0} + 1), as SQL statements run with triggers off.
EDITS = {
    "amount": ["UPDATE ledger_entries SET amount_micros = amount_micros - 1 WHERE id = {0}"],
    "deleted": ["DELETE FROM ledger_entries WHERE id = {0}"],
    "reordered": [  # two entries swap ids: the same rows, in another order
        "UPDATE ledger_entries SET id = -{0} WHERE id = {0}",
        "UPDATE ledger_entries SET id = {0} WHERE id = {0} + 1",
        "UPDATE ledger_entries SET id = {0} + 1 WHERE id = -{0}",
    ],
    "added": [_COPY],  # a second entry with a sealed id
}


# What verify names for each edit of entry {0}, after the checkpoint's range.
NAMED = {
    "amount": "(entries {0} changed)",
    "deleted": "(entries {0} deleted)",
    "reordered": "(entries {0} changed, {1} changed)",
    "added": "(entries {0} added)",
}


@pytest.mark.parametrize("edit", sorted(EDITS))
async def test_an_edit_by_sql_is_named(own: Stores, edit: str) -> None:
    await _ledger(own, 12)
    port = own.ledger_proof()
    await seal(port, KEYS, max_rows=5)
    target = int(await own.pool.fetchval("SELECT min(id) FROM ledger_entries")) + 6
    await _by_hand(own, *(sql.format(target) for sql in EDITS[edit]))
    verdict = await verify(port, KEYS)
    assert not verdict.ok
    assert len(verdict.problems) == 1, verdict.problems
    assert verdict.problems[0].startswith("checkpoint 2 ")  # ids 6-10 hold the edit
    assert verdict.problems[0].endswith(NAMED[edit].format(target, target + 1))


async def test_stored_leaves_edited_with_the_entry_name_nothing_false(own: Stores) -> None:
    """The kept leaves are believed only when they give the signed root."""
    await _ledger(own, 4)
    port = own.ledger_proof()
    await seal(port, KEYS, max_rows=10)
    await _by_hand(
        own,
        "UPDATE ledger_entries SET amount_micros = amount_micros - 1"
        " WHERE id = (SELECT min(id) FROM ledger_entries)",
        "UPDATE ledger_checkpoint_leaves SET hashes = overlay(hashes placing"
        " '\\x00'::bytea from 1)",
    )
    (problem,) = (await verify(port, KEYS)).problems
    assert problem.endswith("(its stored leaves were changed too: no entry can be named)")


async def test_a_deleted_or_changed_checkpoint_is_named(own: Stores) -> None:
    await _ledger(own, 12)
    port = own.ledger_proof()
    await seal(port, KEYS, max_rows=4)
    await _by_hand(
        own,
        "UPDATE ledger_checkpoints SET root = repeat('0', 64) WHERE seq = 1",
        "DELETE FROM ledger_checkpoints WHERE seq = 2",
    )
    problems = (await verify(port, KEYS)).problems
    assert any(p.startswith("checkpoint 1 was changed") for p in problems), problems
    assert any(p.startswith("checkpoint 1 (ids") for p in problems), problems
    assert any(p.startswith("checkpoint 2 is missing") for p in problems), problems


async def test_a_signature_made_with_another_key_fails(own: Stores) -> None:
    await _ledger(own, 3)
    port = own.ledger_proof()
    await seal(port, KEYS, max_rows=10)
    forger = SigningKeys(ProofSettings(signing_seed=unb64url(new_seed())))
    head = (await port.last()).head  # type: ignore[union-attr]
    _, forged = forger.sign(head.encode()) or ("", "")
    await _by_hand(own, f"UPDATE ledger_checkpoints SET signature = '{forged}'")
    assert (await verify(port, KEYS)).problems == ["checkpoint 1's signature does not verify"]
    unknown = await verify(port, SigningKeys(ProofSettings()))
    assert unknown.ok and len(unknown.unchecked) == 1 and "unknown here" in unknown.unchecked[0]


async def test_a_row_that_commits_late_is_never_sealed_over(own: Stores) -> None:
    acct, other = await _ledger(own, 2), await _ledger(own, 1)
    port = own.ledger_proof()
    for _ in range(2):
        await seal(port, KEYS, max_rows=100)
    sealed = await own.pool.fetchval("SELECT max(id) FROM ledger_entries")
    assert (await port.last()).checkpoint.last_id == sealed  # type: ignore[union-attr]
    async with own.pool.acquire() as late:
        tx = late.transaction()
        await tx.start()
        await late.execute(
            "INSERT INTO ledger_entries (account_id, kind, amount_micros, reason)"
            " VALUES ($1, 'adjustment', 0, 'late')",
            acct,
        )
        await own.ledger.write_settlements([settled_row(other, "after", 5, datetime.now(UTC))])
        late_id = await late.fetchval("SELECT max(id) FROM ledger_entries WHERE reason = 'late'")
        for _ in range(2):
            await seal(port, KEYS, max_rows=100)
        assert (await port.last()).checkpoint.last_id == sealed < late_id  # type: ignore[union-attr]
        await tx.commit()
    for _ in range(2):  # the bound moves once the open transaction is seen ended
        await seal(port, KEYS, max_rows=100)
    verdict = await verify(port, KEYS)
    assert verdict.ok and verdict.entries == 5


async def test_archived_months_verify_and_a_dropped_archive_is_not_an_edit(own: Stores) -> None:
    await partitions.add_months(own.pool, [date(2018, 1, 1), date(2018, 2, 1)])
    acct = new_id("acct")
    await own.ledger.create_account(acct, acct, "pro", "prepaid")
    old = [settled_row(acct, f"o{i}", 100, datetime(2018, 1, 3 + i, tzinfo=UTC)) for i in range(4)]
    await own.ledger.write_settlements(old)
    port = own.ledger_proof()
    await seal(port, KEYS, max_rows=2)
    await _ledger(own, 2)
    moved = await retain(own, date(2018, 3, 1), datetime.now(UTC))
    await seal(port, KEYS, max_rows=2)
    verdict = await verify(port, KEYS)
    assert verdict.ok and verdict.entries == 6 and verdict.unchecked == []
    await own.pool.execute(f"DROP TABLE {moved[0].archive}")
    verdict = await verify(port, KEYS)
    assert verdict.ok and verdict.entries == 2
    assert len(verdict.unchecked) == 2 and "was dropped" in verdict.unchecked[0]


async def test_two_sealers_at_once_leave_one_unbroken_chain(own: Stores) -> None:
    await _ledger(own, 40)
    ports = [own.ledger_proof(), own.ledger_proof()]
    await asyncio.gather(*(seal(p, KEYS, max_rows=3) for p in ports))
    await seal(ports[0], KEYS, max_rows=3)
    verdict = await verify(ports[0], KEYS)
    assert verdict.ok and verdict.entries == 40 and verdict.checkpoints == 14
