"""The identity provider's discovery document and keys are fetched under the egress rules
(gateway/outbound/egress.py), as webhooks are: a discovery document whose `jwks_uri` points
at a private address the operator did not admit is not followed there, and an issuer on a
private address is not asked at all. The provider and key server are local fakes; the one
at 127.0.0.1 is admitted on purpose (EGRESS_ALLOW_HOSTS), the key server at 127.0.0.2 is not.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from gateway.config.egress_rules import EgressPolicy
from gateway.config.settings import SigninSettings
from gateway.errors import IdentityProviderUnavailable, SigninFailed
from gateway.outbound.sign_in.oidc_client import Attempt, OidcClient
from tests.support.fakes.identity import Jwks, jwks_server, rsa_key, sign

ADMITTED = EgressPolicy(frozenset({"127.0.0.1"}), (), allow_http=True)


class NoRevocations:
    async def is_revoked(self, subject: str, jti: str | None, issued_at: int) -> bool:
        return False


@asynccontextmanager
async def fake_issuer(
    jwks_uri: str, id_token: dict[str, Any]
) -> AsyncIterator[tuple[str, list[str]]]:
    """A provider whose discovery names `jwks_uri` and whose token endpoint signs
    `id_token`'s claims (completed with its issuer); yields its base URL and the paths asked."""
    asked: list[str] = []
    key = id_token["key"]
    state: dict[str, str] = {}

    async def discovery(request: web.Request) -> web.Response:
        asked.append(request.path)
        base = state["base"]
        doc = {"issuer": base, "authorization_endpoint": f"{base}/auth",
               "token_endpoint": f"{base}/token", "jwks_uri": jwks_uri}  # fmt: skip
        return web.json_response(doc)

    async def token(request: web.Request) -> web.Response:
        asked.append(request.path)
        body = {**id_token["claims"], "iss": state["base"]}
        return web.json_response({"id_token": sign(key, body), "token_type": "Bearer"})

    app = web.Application()
    app.router.add_get("/.well-known/openid-configuration", discovery)
    app.router.add_post("/token", token)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state["base"] = f"http://127.0.0.1:{port}"
    try:
        yield state["base"], asked
    finally:
        await runner.cleanup()


def _claims(attempt: Attempt) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "ann", "aud": "meterway", "iat": now, "exp": now + 300, "nonce": attempt.nonce}


def _client(issuer: str, egress: EgressPolicy) -> OidcClient:
    settings = SigninSettings(oidc_issuer=issuer, oidc_client_id="meterway")
    return OidcClient(settings, "http://127.0.0.1/cb", NoRevocations(), egress)


async def test_a_jwks_uri_at_a_private_address_is_refused() -> None:
    signer, attempt = rsa_key("k1"), Attempt.new()
    claims = _claims(attempt)
    async with jwks_server(Jwks([signer]), host="127.0.0.2") as keys:
        async with fake_issuer(keys.url, {"key": signer, "claims": claims}) as (base, asked):
            client = _client(base, ADMITTED)
            try:
                assert (await client.authorization_url(attempt)).startswith(base)
                with pytest.raises(SigninFailed, match="unknown key"):
                    await client.identity("a-code", attempt)
            finally:
                await client.close()
        assert keys.fetches == 0 and asked == ["/.well-known/openid-configuration", "/token"]


async def test_the_same_keys_are_fetched_once_their_address_is_admitted() -> None:
    """The control: only the egress rule stood between the client and the keys above."""
    signer, attempt = rsa_key("k1"), Attempt.new()
    claims = _claims(attempt)
    both = EgressPolicy(frozenset({"127.0.0.1", "127.0.0.2"}), (), allow_http=True)
    async with jwks_server(Jwks([signer]), host="127.0.0.2") as keys:
        async with fake_issuer(keys.url, {"key": signer, "claims": claims}) as (base, _):
            client = _client(base, both)
            try:
                assert (await client.identity("a-code", attempt)).subject == "ann"
            finally:
                await client.close()
        assert keys.fetches == 1


async def test_an_issuer_on_a_private_address_is_not_asked() -> None:
    async with fake_issuer("https://keys.example/jwks", {"key": rsa_key(), "claims": {}}) as (
        base,
        asked,
    ):
        client = _client(base, EgressPolicy(allow_http=True))
        try:
            with pytest.raises(IdentityProviderUnavailable):
                await client.authorization_url(Attempt.new())
        finally:
            await client.close()
        assert asked == []
