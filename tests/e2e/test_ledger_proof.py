"""The ledger's seals in a running gateway: a call made through the OpenAI SDK is sealed by
the background sealer, the scheduled check reports it whole in /readyz and /metrics, and a
checkpoint's signature verifies offline from the published JWKS alone (the check docs'
guide describes) and `meterway ledger verify` passes; an amount changed by SQL is then
reported by the next scheduled check and by `verify`'s exit code."""

from __future__ import annotations

import asyncio
import base64
import re
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from billing.proof.ledger_proof import Checkpoint
from gateway.config.proof import proof_settings
from gateway.services.proof.signing_keys import SigningKeys, new_seed
from tests.support.factories import openai_client, tenant
from tests.support.harness import ADMIN_KEY, Gateway, running_gateway, store_cli, temp_database

OPERATOR = {"Authorization": f"Bearer {ADMIN_KEY}"}


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def _proof(gw: Gateway, want: Any) -> dict[str, Any]:
    for _ in range(150):
        async with gw.http.get(gw.url + "/readyz", headers=OPERATOR) as r:
            found = (await r.json()).get("ledger_proof", {})
        if want(found.get("verify", {})):
            return dict(found)
        await asyncio.sleep(0.1)
    raise AssertionError(f"/readyz never showed it: {found}")


async def test_a_call_is_sealed_verified_and_its_checkpoint_checks_offline() -> None:
    signing = {"LEDGER_SIGNING_KEY": new_seed()}
    env = {**signing, "LEDGER_SEAL_EVERY_S": "0.1", "LEDGER_VERIFY_EVERY_S": "0.2"}
    async with temp_database() as dsn, running_gateway(dsn, None, **env) as gw:
        t = await tenant(gw)
        async with openai_client(gw, t.key) as client:
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
        await gw.settle_all()
        entries = await gw.stores().pool.fetchval("SELECT count(*) FROM ledger_entries")
        assert entries == 2  # the credit and the debit
        seen = await _proof(gw, lambda v: v.get("entries") == entries)
        assert seen["verify"]["ok"] and seen["signed"] and seen["verify"]["unsigned"] == 0

        async with gw.http.get(gw.url + "/.well-known/meterway-keys.json") as r:
            assert r.status == 200
            keys = {k["kid"]: k for k in (await r.json())["keys"]}
        row = await gw.stores().pool.fetchrow(
            "SELECT * FROM ledger_checkpoints ORDER BY seq DESC LIMIT 1"
        )
        fields = ("seq", "after_id", "last_id", "entries", "root", "prev_head", "version")
        head = Checkpoint(**{f: row[f] for f in fields}).head()
        assert head == row["head"]
        public = Ed25519PublicKey.from_public_bytes(_b64(keys[row["kid"]]["x"]))
        public.verify(_b64(row["signature"]), head.encode())  # raises if it does not verify
        code, out, _ = await store_cli(gw, "ledger", "verify", **signing)
        assert code == 0 and "ok: the ledger matches its checkpoints" in out, out

        async with gw.stores().pool.acquire() as conn:
            await conn.execute("SET session_replication_role = replica")
            await conn.execute(
                "UPDATE ledger_entries SET amount_micros = amount_micros + 1 WHERE kind = 'debit'"
            )
            await conn.execute("RESET session_replication_role")
        seen = await _proof(gw, lambda v: v.get("ok") is False)
        assert "an entry was changed" in seen["verify"]["problems"][0]
        async with gw.http.get(gw.url + "/metrics", headers=OPERATOR) as r:
            assert "meterway_ledger_verify_problems 1" in await r.text()
        code, out, _ = await store_cli(gw, "ledger", "verify", **signing)
        # The sealer may have sealed the credit and the debit apart or together.
        edited = re.search(r"EDITED: checkpoint \d+ \(ids (\d+)-(\d+)\): an entry was changed", out)
        assert code == 1 and edited, out
        debit_id = await gw.stores().pool.fetchval(
            "SELECT id FROM ledger_entries WHERE kind = 'debit'"
        )
        assert int(edited[1]) <= debit_id <= int(edited[2])
        assert f"(entries {debit_id} changed)" in out, out  # the entry, not only its range


async def test_signing_key_prints_a_key_the_settings_take() -> None:
    async with temp_database() as dsn, running_gateway(dsn) as gw:
        code, out, _ = await store_cli(gw, "ledger", "signing-key")
    assert code == 0
    seed = out.splitlines()[0].removeprefix("LEDGER_SIGNING_KEY=")
    kid = out.split("kid ")[1].strip()
    keys = SigningKeys(proof_settings({"LEDGER_SIGNING_KEY": seed}.get))
    assert keys.current_kid == kid
