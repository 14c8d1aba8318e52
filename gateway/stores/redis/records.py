"""Python-only records Redis holds: the key directory entry (hash of a key -> its facts)."""

from __future__ import annotations

import json

from gateway.stores.records import KeyRecord
from gateway.stores.redis.keys import shard_of


def encode_key_record(record: KeyRecord) -> str:
    return json.dumps(
        [
            record.key_id,
            record.account_id,
            record.name,
            list(record.scopes),
            list(record.models),
            record.on_insufficient,
        ]
    )


def decode_key_record(text: str | bytes) -> KeyRecord:
    key_id, account_id, name, scopes, models, on_insufficient = json.loads(text)
    return KeyRecord(
        key_id,
        account_id,
        shard_of(account_id),
        name,
        tuple(scopes),
        tuple(models),
        on_insufficient,
    )
