"""Rotation copies a key from its one record: `copy_key` inserts every column of `api_keys`
but the secret's own (PER_SECRET), read from the catalogue, so a column added by a later
migration is carried without anyone remembering rotation."""

from __future__ import annotations

from gateway.services.auth import new_id
from gateway.services.keys.provisioning import KeySpec, issue_key, new_secret
from gateway.stores.connect import Stores
from gateway.stores.records import PER_SECRET, Lineage


async def test_a_column_added_later_is_copied_with_every_other(own: Stores) -> None:
    acct = new_id("acct")
    await own.ledger.create_account(acct, acct, "pro", "prepaid")
    lineage = Lineage("key", "key_parent", None, None)
    issued = await issue_key(own.ledger, own.store, acct, KeySpec("k", ("chat",)), lineage)
    await own.pool.execute("ALTER TABLE api_keys ADD COLUMN purpose text")
    await own.pool.execute(
        "UPDATE api_keys SET purpose = 'batch jobs' WHERE id = $1", issued.key_id
    )
    old = await own.ledger.get_key(issued.key_id)
    _, digest, prefix = new_secret()
    new = await own.ledger.copy_key(issued.key_id, new_id("key"), digest, prefix)
    assert old is not None and new["purpose"] == "batch jobs"
    differ = {c for c in old if old[c] != new[c]}
    assert {"id", "key_hash", "key_prefix"} <= differ <= PER_SECRET, differ
    assert (new["minter_kind"], new["minter_id"], new["key_hash"]) == ("key", "key_parent", digest)
