"""A call's signed receipt (GET /v1/account/requests/{id}/receipt): made from the ledger's
debit, it verifies offline against the published JWKS alone (as the docs' short check and
`meterway receipt verify` do), states the request, usage by kind, price version and cost
the answer showed, never the provider's cost, and once sealed names the checkpoint and the
entry's leaf; one changed byte fails it; after a key rotation it still verifies; another
account's key cannot read it. The statement names the newest checkpoint."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from billing.proof.ledger_proof import leaf_hash
from gateway.config.proof import ProofSettings
from gateway.services.proof.call_receipts import RECEIPT_TYP
from gateway.services.proof.signing_keys import (
    SigningKeys,
    UnverifiedReceipt,
    b64url,
    new_seed,
    read_with_jwks,
    unb64url,
)
from tests.support.factories import openai_client, tenant
from tests.support.harness import Gateway, running_gateway, store_cli, temp_database

SEAL_FAST = {"LEDGER_SEAL_EVERY_S": "0.1"}
SCOPES = ["chat", "account:read", "billing:read"]


async def _get(gw: Gateway, key: str, path: str) -> tuple[int, dict[str, Any]]:
    async with gw.http.get(gw.url + path, headers={"Authorization": f"Bearer {key}"}) as r:
        return r.status, await r.json()


async def _jwks(gw: Gateway) -> dict[str, Any]:
    async with gw.http.get(gw.url + "/.well-known/meterway-keys.json") as r:
        return dict(await r.json())


async def _sealed_receipt(gw: Gateway, key: str, rid: str) -> str:
    for _ in range(100):
        status, body = await _get(gw, key, f"/v1/account/requests/{rid}/receipt")
        assert status == 200, body
        claims = json.loads(base64.urlsafe_b64decode(body["receipt"].split(".")[1] + "=="))
        if claims["checkpoint"] is not None:
            return str(body["receipt"])
        await asyncio.sleep(0.1)
    raise AssertionError("the debit was never sealed")


def _flip(token: str, at: int) -> str:
    """The same receipt with one byte of its signed part changed."""
    head, payload, signature = token.split(".")
    raw = bytearray(unb64url(payload))
    raw[at] ^= 1
    return ".".join((head, b64url(bytes(raw)), signature))


async def test_a_receipt_states_the_debit_and_verifies_offline(tmp_path: Path) -> None:
    old_seed = new_seed()
    async with temp_database() as dsn:
        async with running_gateway(dsn, None, LEDGER_SIGNING_KEY=old_seed, **SEAL_FAST) as gw:
            t, other = await tenant(gw, scopes=SCOPES), await tenant(gw, scopes=SCOPES)
            async with openai_client(gw, t.key) as client:
                raw = await client.chat.completions.with_raw_response.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
                )
            rid, cost = raw.headers["x-request-id"], int(raw.headers["x-meterway-cost-micros"])
            await gw.settle_all()
            token = await _sealed_receipt(gw, t.key, rid)
            jwks = await _jwks(gw)
            debit = await gw.stores().pool.fetchrow(
                "SELECT * FROM ledger_entries WHERE request_id = $1", rid
            )
            leaf = await gw.stores().ledger_proof().leaf(debit["id"])
            status, _ = await _get(gw, other.key, f"/v1/account/requests/{rid}/receipt")
            assert status == 404  # another account's key reads nothing of it
            status, statement = await _get(gw, t.key, "/v1/account/statements/" + _month())
            assert status == 200 and statement["ledger_checkpoint"]["sealed_through_id"] >= 1

        claims = read_with_jwks(jwks, token, RECEIPT_TYP)
        assert claims["rid"] == rid and claims["sub"] == t.account_id
        assert claims["cost_micros"] == cost == -debit["amount_micros"]
        assert claims["usage"]["input_tokens"] == debit["input_tokens"] > 0
        assert claims["usage"]["output_tokens"] == debit["output_tokens"] > 0
        assert claims["model"] == debit["model"] and claims["price_version"]
        assert "provider_cost" not in json.dumps(claims)
        assert leaf is not None and claims["checkpoint"]["leaf"] == leaf_hash(leaf).hex()
        for at in (0, 10, 40):
            with pytest.raises(UnverifiedReceipt, match="does not verify"):
                read_with_jwks(jwks, _flip(token, at), RECEIPT_TYP)

        keys_file = tmp_path / "keys.json"
        keys_file.write_text(json.dumps(jwks))
        async with running_gateway(dsn, None, **_rotated(old_seed)) as gw2:
            rotated = await _jwks(gw2)
            code, out, _ = await store_cli(
                gw2, "receipt", "verify", token, "--keys", str(keys_file)
            )
            assert code == 0 and f'"rid": "{rid}"' in out
            code, _, err = await store_cli(
                gw2, "receipt", "verify", _flip(token, 5), "--api-url", gw2.url
            )
            assert code == 1 and "NOT verified" in err
            code, out, _ = await store_cli(gw2, "receipt", "verify", token, "--api-url", gw2.url)
            assert code == 0, out  # the rotated gateway still publishes the old key
        assert len(rotated["keys"]) == 2
        assert read_with_jwks(rotated, token, RECEIPT_TYP)["rid"] == rid


def _rotated(old_seed: str) -> dict[str, str]:
    old = SigningKeys(ProofSettings(signing_seed=unb64url(old_seed)))
    return {"LEDGER_SIGNING_KEY": new_seed(), "LEDGER_VERIFY_KEYS": b64url(old.public_key())}


async def _settled_call(gw: Gateway) -> tuple[str, str]:
    """A new account's key and the request id of one settled call it made."""
    t = await tenant(gw, scopes=SCOPES)
    async with openai_client(gw, t.key) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    await gw.settle_all()
    return t.key, raw.headers["x-request-id"]


def _month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


async def test_without_a_signing_key_there_is_no_receipt(gw: Gateway) -> None:
    key, rid = await _settled_call(gw)
    status, body = await _get(gw, key, f"/v1/account/requests/{rid}/receipt")
    assert status == 404 and "LEDGER_SIGNING_KEY" in body["error"]["message"]


async def test_the_docs_check_verifies_a_receipt_and_refuses_a_changed_one() -> None:
    """The Python check docs/guides/ledger.md prints, run as a customer runs it."""
    guide = (Path(__file__).parents[2] / "docs/guides/ledger.md").read_text()
    code = guide.split("## Receipts", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    async with (
        temp_database() as dsn,
        running_gateway(dsn, None, LEDGER_SIGNING_KEY=new_seed()) as gw,
    ):
        key, rid = await _settled_call(gw)
        _, body = await _get(gw, key, f"/v1/account/requests/{rid}/receipt")
        script = code.replace("https://meterway.example.com", gw.url)
        assert len(script.strip().splitlines()) <= 20
        good = await _python(script, body["receipt"])
        bad = await _python(script, _flip(body["receipt"], 3))
    assert good[0] == 0 and json.loads(good[1])["rid"] == rid
    assert bad[0] != 0 and "InvalidSignatureError" in bad[2]


async def _python(script: str, arg: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, arg,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    return int(proc.returncode or 0), out.decode(), err.decode()
