"""`x-meterway-receipt`: an account that asks for it gets each call's signed receipt on the
answer itself (a header; on a stream, a comment line before its end), which verifies offline
against the published keys and states what the ledger then records for the call; an account
that did not ask gets none; the official SDKs read such a stream as before; a changed byte
fails it; another process learns the choice from PostgreSQL, never from the request's path."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.services.proof import signing_keys as sk
from gateway.services.proof.call_receipts import RECEIPT_TYP
from gateway.services.proof.receipt_header import RECEIPT_HEADER, ReceiptHeaders
from tests.support.factories import anthropic_client, openai_client, tenant
from tests.support.harness import ADMIN_KEY, Gateway, running_gateway, temp_database

OPERATOR = {"Authorization": f"Bearer {ADMIN_KEY}"}
SCOPES = ["chat", "messages", "billing", "account:read"]
HI: list[Any] = [{"role": "user", "content": "hi"}]
# The claims the answer's receipt and the ledger's receipt both state, equal.
SHARED = ("sub", "rid", "model", "key_id", "usage", "usage_source", "price_version", "cost_micros")


async def _put(gw: Gateway, key: str, enabled: Any) -> tuple[int, dict[str, Any]]:
    async with gw.http.put(
        gw.url + "/v1/account/billing/receipt-header",
        json={"enabled": enabled},
        headers={"Authorization": f"Bearer {key}"},
    ) as r:
        return r.status, await r.json()


async def _jwks(gw: Gateway) -> dict[str, Any]:
    async with gw.http.get(gw.url + "/.well-known/meterway-keys.json") as r:
        return dict(await r.json())


async def _ledger_receipt(gw: Gateway, key: str, rid: str) -> dict[str, Any]:
    path = f"/v1/account/requests/{rid}/receipt"
    async with gw.http.get(gw.url + path, headers={"Authorization": f"Bearer {key}"}) as r:
        body = await r.json()
        assert r.status == 200, body
    return sk.read_with_jwks(await _jwks(gw), body["receipt"], RECEIPT_TYP)


async def _raw_stream(gw: Gateway, key: str, path: str, body: dict[str, Any]) -> tuple[str, str]:
    """(request id, the stream's text) as it reached the client."""
    headers = {"Authorization": f"Bearer {key}", "x-api-key": key}
    async with gw.http.post(gw.url + path, json=body, headers=headers) as r:
        assert r.status == 200, await r.text()
        return r.headers["x-request-id"], await r.text()


def _comment_receipt(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.startswith(": x-meterway-receipt ")]
    assert len(lines) == 1, text
    return lines[0].removeprefix(": x-meterway-receipt ")


def _flip(token: str, at: int) -> str:
    head, payload, signature = token.split(".")
    raw = bytearray(sk.unb64url(payload))
    raw[at] ^= 1
    return ".".join((head, sk.b64url(bytes(raw)), signature))


async def test_an_account_that_asked_gets_each_calls_receipt_on_its_answer() -> None:
    async with (
        temp_database() as dsn,
        running_gateway(dsn, None, LEDGER_SIGNING_KEY=sk.new_seed()) as gw,
    ):
        t, other = await tenant(gw, scopes=SCOPES), await tenant(gw, scopes=SCOPES)
        async with openai_client(gw, t.key) as client:
            before = await client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=HI
            )
        assert RECEIPT_HEADER not in before.headers  # off until the account asks
        assert await _put(gw, t.key, True) == (200, {"receipt_header": True})

        async with openai_client(gw, t.key) as client:
            raw = await client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=HI
            )
            chunks = [
                c
                async for c in await client.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=HI,
                    stream=True,
                    stream_options={"include_usage": True},
                )
            ]
        assert chunks[-1].usage is not None  # the SDK reads the stream as before
        async with (
            anthropic_client(gw, t.key) as claude,
            claude.messages.stream(model="claude-haiku-4-5", max_tokens=20, messages=HI) as stream,
        ):
            final = await stream.get_final_message()
        assert final.usage.output_tokens > 0
        async with openai_client(gw, other.key) as client:
            theirs = await client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=HI
            )
        assert RECEIPT_HEADER not in theirs.headers  # another account did not ask

        chat: dict[str, Any] = {"model": "gpt-4o-mini", "messages": HI, "stream": True}
        chat["stream_options"] = {"include_usage": True}
        streamed_rid, text = await _raw_stream(gw, t.key, "/v1/chat/completions", chat)
        messages: dict[str, Any] = {"model": "claude-haiku-4-5", "max_tokens": 20}
        messages |= {"messages": HI, "stream": True}
        claude_rid, claude_text = await _raw_stream(gw, t.key, "/v1/messages", messages)
        assert "x-meterway-receipt" not in (theirs.http_response.text or "")
        await gw.settle_all()

        jwks = await _jwks(gw)
        token = raw.headers[RECEIPT_HEADER]
        rid = raw.headers["x-request-id"]
        answered = sk.read_with_jwks(jwks, token, RECEIPT_TYP)
        assert answered["cost_micros"] == int(raw.headers["x-meterway-cost-micros"]) > 0
        assert "entry_id" not in answered and "checkpoint" not in answered
        assert "provider_cost" not in json.dumps(answered)
        for answer_rid, answer_token in (
            (rid, token),
            (streamed_rid, _comment_receipt(text)),
            (claude_rid, _comment_receipt(claude_text)),
        ):
            answered = sk.read_with_jwks(jwks, answer_token, RECEIPT_TYP)
            ledger = await _ledger_receipt(gw, t.key, answer_rid)
            assert answered["rid"] == answer_rid and answered["sub"] == t.account_id
            assert {k: answered[k] for k in SHARED} == {k: ledger[k] for k in SHARED}
            assert abs(answered["time"] - ledger["time"]) < 5_000
        # The stream's receipt comes before its end: the usage event and [DONE] follow.
        assert text.index(": x-meterway-receipt") < text.index("data: [DONE]")
        for at in (0, 7, 30):
            with pytest.raises(sk.UnverifiedReceipt, match="does not verify"):
                sk.read_with_jwks(jwks, _flip(token, at), RECEIPT_TYP)

        # Another process learns the choice on its next read of PostgreSQL.
        elsewhere = ReceiptHeaders(gw.stores().receipt_headers(), _signer(gw))
        assert not elsewhere.wanted(t.account_id)
        await elsewhere.refresh()
        assert elsewhere.wanted(t.account_id) and not elsewhere.wanted(other.account_id)

        assert await _put(gw, t.key, False) == (200, {"receipt_header": False})
        async with openai_client(gw, t.key) as client:
            after = await client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=HI
            )
        assert RECEIPT_HEADER not in after.headers
        await elsewhere.refresh()
        assert not elsewhere.wanted(t.account_id)
        async with gw.http.get(gw.url + "/readyz", headers=OPERATOR) as r:
            tasks = (await r.json())["tasks"]
        assert tasks["receipt_headers"]["healthy"] and tasks["receipt_headers"]["running"], tasks
        await gw.settle_all()


def _signer(gw: Gateway) -> sk.SigningKeys:
    return sk.SigningKeys(gw.settings.proof)


async def test_the_choice_is_refused_by_name_without_a_signing_key(gw: Gateway) -> None:
    t = await tenant(gw, scopes=SCOPES)
    status, body = await _put(gw, t.key, True)
    assert status == 400 and body["error"]["param"] == "enabled"
    assert "LEDGER_SIGNING_KEY" in body["error"]["message"]
    status, body = await _put(gw, t.key, "yes")
    assert status == 400 and body["error"]["param"] == "enabled"
    chat_only = await tenant(gw, scopes=["chat"])
    status, _ = await _put(gw, chat_only.key, False)
    assert status == 403  # a key without the billing scope cannot change it
