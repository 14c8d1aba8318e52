"""The key directory entry Redis holds: a key's provider pin round-trips, and an entry
written before keys could pin providers still reads, pinning none."""

from __future__ import annotations

import json

from gateway.stores.records import KeyRecord
from gateway.stores.redis.keys import shard_of
from gateway.stores.redis.records import decode_key_record, encode_key_record


def test_the_provider_pin_round_trips() -> None:
    record = KeyRecord(
        "key_1", "acct_1", shard_of("acct_1"), "k", ("chat",), (), "clamp", ("azure-eu",)
    )
    assert decode_key_record(encode_key_record(record)) == record


def test_an_entry_of_six_fields_pins_no_provider() -> None:
    old = json.dumps(["key_1", "acct_1", "k", ["chat"], ["gpt-4o"], None])
    record = decode_key_record(old)
    assert (record.models, record.providers) == (("gpt-4o",), ())
