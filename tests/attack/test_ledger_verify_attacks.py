"""Attacks on `meterway ledger verify` (docs/guides/ledger.md, "Proving the ledger"): a
database superuser edits sealed history by SQL; verify must exit 1 and name the edit."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest

from tests.support.factories import openai_client, tenant
from tests.support.harness import (
    PG_ADMIN,
    running_gateway,
    store_cli,
    stores_cli,
    temp_database,
)


@dataclass
class Sealed:
    dsn: str
    prefix: str
    env: dict[str, str]
    db: asyncpg.Connection
    ids: list[int]

    async def cli(self, *args: str) -> tuple[int, str]:
        rc, out, err = await stores_cli(self.dsn, self.prefix, "ledger", *args, **self.env)
        return rc, out + err

    async def superuser(self, sql: str, *args: object) -> None:
        """An edit as the database's superuser: the append-only trigger switched off."""
        async with self.db.transaction():
            await self.db.execute("SET LOCAL session_replication_role = replica")
            await self.db.execute(sql, *args)


async def signing_key() -> str:
    rc, out, err = await stores_cli(PG_ADMIN, "mwsigning", "ledger", "signing-key")
    assert rc == 0, err
    for token in out.replace("=", " ").split():
        if len(token) == 43:  # 32 bytes in base64url without padding
            return token
    raise AssertionError(out)


@pytest.fixture(scope="module")
async def sealed_ledger() -> AsyncIterator[tuple[str, dict[str, str]]]:
    """A ledger with entries in three sealed checkpoints, made once by a gateway and the
    CLI, then left with no connection so each test edits a copy of its own."""
    env = {"LEDGER_SIGNING_KEY": await signing_key(), "SETTLER_DISABLED": "1"}
    async with temp_database() as dsn:
        async with running_gateway(dsn, None, **env) as gw:
            for _ in range(3):
                payer = await tenant(gw, credit=5_000_000)
                client = openai_client(gw, payer.key)
                await client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
                )
                await gw.settle_all()
                rc, out, err = await store_cli(gw, "ledger", "seal", **env)
                assert rc == 0, out + err
            rc, out, err = await store_cli(gw, "ledger", "verify", **env)
            assert rc == 0, out + err
        yield dsn, env


@pytest.fixture
async def sealed(sealed_ledger: tuple[str, dict[str, str]]) -> AsyncIterator[Sealed]:
    """A copy of the sealed ledger (verified clean once, when it was made) to edit."""
    source, env = sealed_ledger
    async with temp_database(source.rsplit("/", 1)[1]) as dsn:
        db = await asyncpg.connect(dsn)
        try:
            s = Sealed(dsn, f"mwt{secrets.token_hex(4)}", env, db, [])
            ids = await db.fetch("SELECT id FROM ledger_entries ORDER BY id")
            s.ids = [r["id"] for r in ids]
            seqs = await db.fetchval("SELECT count(*) FROM ledger_checkpoints")
            assert len(s.ids) >= 6 and seqs >= 3, (s.ids, seqs)
            yield s
        finally:
            await db.close()


async def verify(s: Sealed) -> tuple[int, str]:
    rc, text = await s.cli("verify")
    rc_json, as_json = await s.cli("verify", "--json")
    assert rc_json == rc, (text, as_json)
    return rc, text


async def test_a_changed_amount_is_named_by_entry_id(sealed: Sealed) -> None:
    victim = sealed.ids[2]
    await sealed.superuser(
        "UPDATE ledger_entries SET amount_micros = amount_micros + 1 WHERE id = $1", victim
    )
    rc, text = await verify(sealed)
    assert rc == 1, text
    assert "EDITED" in text and f"entries {victim} changed" in text, text


async def test_a_changed_other_column_is_named(sealed: Sealed) -> None:
    victim = sealed.ids[-1]
    await sealed.superuser("UPDATE ledger_entries SET model = 'gpt-4o' WHERE id = $1", victim)
    rc, text = await verify(sealed)
    assert rc == 1 and str(victim) in text, text


async def test_a_deleted_entry_is_an_edit(sealed: Sealed) -> None:
    await sealed.superuser("DELETE FROM ledger_entries WHERE id = $1", sealed.ids[1])
    rc, text = await verify(sealed)
    assert rc == 1 and "EDITED" in text, text


async def test_two_swapped_ids_are_an_edit(sealed: Sealed) -> None:
    a, b = sealed.ids[0], sealed.ids[3]
    await sealed.superuser(
        "UPDATE ledger_entries SET id = CASE id WHEN $1 THEN $2 ELSE $1 END WHERE id IN ($1, $2)",
        a, b,
    )  # fmt: skip
    rc, text = await verify(sealed)
    assert rc == 1 and "EDITED" in text, text


async def test_an_entry_added_into_a_sealed_range_is_an_edit(sealed: Sealed) -> None:
    """A copy of a sealed entry under an id inside the sealed range (a gap, or one freed by
    moving the last entry of the range up past it)."""
    taken = set(sealed.ids)
    low, high = sealed.ids[0], sealed.ids[-1]
    gaps = [i for i in range(low, high) if i not in taken]
    if gaps:
        target = gaps[0]
    else:  # no gap: move the newest entry beyond the range, freeing its id
        target = high
        await sealed.superuser("UPDATE ledger_entries SET id = $1 WHERE id = $2", high + 1000, high)
    row = await sealed.db.fetchrow("SELECT * FROM ledger_entries WHERE id = $1", low)
    assert row is not None
    collist = ", ".join(c for c in row.keys() if c != "id")  # noqa: SIM118 (a Record)
    await sealed.superuser(
        f"INSERT INTO ledger_entries (id, {collist}) SELECT $1, {collist} FROM ledger_entries"
        " WHERE id = $2",
        target, low,
    )  # fmt: skip
    rc, text = await verify(sealed)
    assert rc == 1 and "EDITED" in text, text


async def test_a_deleted_middle_checkpoint_is_an_edit(sealed: Sealed) -> None:
    seq = await sealed.db.fetchval("SELECT min(seq) + 1 FROM ledger_checkpoints")
    await sealed.superuser("DELETE FROM ledger_checkpoint_leaves WHERE seq = $1", seq)
    await sealed.superuser("DELETE FROM ledger_checkpoints WHERE seq = $1", seq)
    rc, text = await verify(sealed)
    assert rc == 1, text


async def test_a_changed_checkpoint_signature_fails(sealed: Sealed) -> None:
    sig = await sealed.db.fetchval("SELECT signature FROM ledger_checkpoints ORDER BY seq LIMIT 1")
    assert sig, "signed checkpoints"
    flipped = ("B" if sig[0] != "B" else "C") + sig[1:]
    await sealed.superuser(
        "UPDATE ledger_checkpoints SET signature = $1 WHERE seq = "
        "(SELECT min(seq) FROM ledger_checkpoints)",
        flipped,
    )
    rc, text = await verify(sealed)
    assert rc == 1, text


async def test_an_entry_edited_with_its_leaf_rewritten_is_still_an_edit(sealed: Sealed) -> None:
    """The attacker also rewrites the kept leaf hash: the leaves no longer give the signed
    root, so they are not believed, and the edit is still found (named by its range)."""
    victim = sealed.ids[2]
    cols = await sealed.db.fetch(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_name = 'ledger_checkpoint_leaves'"
    )
    names = [c["column_name"] for c in cols]
    await sealed.superuser(
        "UPDATE ledger_entries SET amount_micros = amount_micros * 2 WHERE id = $1", victim
    )
    hashcol = next((n for n in names if n in ("leaf", "hash", "leaf_hash", "leaves")), None)
    if hashcol is not None:
        kind = await sealed.db.fetchval(
            "SELECT data_type FROM information_schema.columns"
            " WHERE table_name = 'ledger_checkpoint_leaves' AND column_name = $1",
            hashcol,
        )
        if kind == "bytea":
            await sealed.superuser(
                f"UPDATE ledger_checkpoint_leaves SET {hashcol} = "
                f"overlay({hashcol} placing '\\x00'::bytea from 9 for 1)"
            )
    rc, text = await verify(sealed)
    assert rc == 1 and "EDITED" in text, json.dumps([names, text])
