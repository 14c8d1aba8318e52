"""Signed-in users on the account API: real RS256/ES256 keys from a local JWKS endpoint that
rotates mid-test, HS256 with the shared secret, and every way a token must be refused."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from gateway.http.appkeys import JWT
from tests.support.factories import tenant
from tests.support.fakes.identity import (
    AUDIENCE,
    HS_SECRET,
    ISSUER,
    FakeClock,
    Jwks,
    claims,
    ec_key,
    jwks_server,
    rsa_key,
    sign,
    sign_hs,
)
from tests.support.harness import LOCAL_SINKS, Gateway, running_gateway

FIRST = rsa_key("first")


@pytest.fixture
async def idp() -> AsyncIterator[Jwks]:
    async with jwks_server(Jwks([FIRST])) as served:
        yield served


def jwt_env(idp: Jwks) -> dict[str, str]:
    return {
        "JWT_SECRET": HS_SECRET,
        "JWT_JWKS_URL": idp.url,
        "JWT_AUDIENCE": AUDIENCE,
        "JWT_ISSUER": ISSUER,
        **LOCAL_SINKS,  # the local key server, admitted past the egress rules
    }


@pytest.fixture
async def jgw(dsn: str, idp: Jwks) -> AsyncIterator[Gateway]:
    async with running_gateway(dsn, None, **jwt_env(idp)) as gateway:
        yield gateway
        await gateway.settle_all()


async def call(gw: Gateway, token: str, path: str = "/v1/account", method: str = "GET") -> Any:
    async with gw.http.request(
        method, gw.url + path, headers={"Authorization": f"Bearer {token}"}
    ) as r:
        return r.status, await r.json()


async def test_rs256_token_with_account_claim_reads_the_account(jgw: Gateway) -> None:
    t = await tenant(jgw)
    status, body = await call(jgw, sign(FIRST, claims("user-1", account_id=t.account_id)))
    assert status == 200, body
    assert body["id"] == t.account_id
    assert body["balance_micros"] == 10_000_000
    assert body["available_micros"] == body["balance_micros"] - body["held_micros"]
    assert {w["window"] for w in body["windows"]} == {"minute", "day", "month"}
    assert all("limit" in w and "used" in w and "resets_at" in w for w in body["windows"])


async def test_sub_maps_to_external_id_set_through_the_admin_api(jgw: Gateway) -> None:
    t = await tenant(jgw)
    token = sign(FIRST, claims("idp|alice"))
    assert (await call(jgw, token))[0] == 401  # no account carries this user yet
    status, body = await jgw.admin(
        "PATCH", f"/admin/v1/accounts/{t.account_id}", {"external_id": "idp|alice"}
    )
    assert status == 200 and body["external_id"] == "idp|alice", body
    status, body = await call(jgw, token)
    assert status == 200 and body["id"] == t.account_id
    other = await tenant(jgw)
    status, body = await jgw.admin(
        "PATCH", f"/admin/v1/accounts/{other.account_id}", {"external_id": "idp|alice"}
    )
    assert status == 409, body
    status, body = await jgw.admin(
        "POST", "/admin/v1/accounts", {"name": "dup", "external_id": "idp|alice"}
    )
    assert status == 409, body


async def test_hs256_with_the_shared_secret_is_accepted(jgw: Gateway) -> None:
    t = await tenant(jgw)
    status, body = await call(jgw, sign_hs(claims("u", account_id=t.account_id)))
    assert status == 200, body


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _none_token(body: dict[str, Any]) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(body).encode())}."


def _confused_token(body: dict[str, Any], public_pem: bytes) -> str:
    """HS256 'signed' with the RSA public key as the HMAC secret (pyjwt refuses to forge it)."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": FIRST.kid}).encode())
    signing_input = f"{header}.{_b64(json.dumps(body).encode())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


async def test_every_bad_token_is_refused_with_401(jgw: Gateway) -> None:
    t = await tenant(jgw)
    ok = claims("u", account_id=t.account_id)
    now = int(time.time())
    public_pem = FIRST.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    confused = _confused_token(ok, public_pem)
    cases = {
        "expired": sign(FIRST, {**ok, "iat": now - 900, "exp": now - 300}),
        "wrong audience": sign(FIRST, {**ok, "aud": "https://someone-else"}),
        "wrong issuer": sign(FIRST, {**ok, "iss": "https://evil.test/"}),
        "alg none": _none_token(ok),
        "hs/rs confusion": confused,
        "foreign key, known kid": sign(rsa_key(FIRST.kid), ok),
        "wrong hs secret": sign_hs(ok, "x" * 40),
        "lifetime too long": sign(FIRST, {**ok, "exp": now + 2 * 86400}),
        "no sub": sign(FIRST, {k: v for k, v in ok.items() if k != "sub"}),
    }
    for name, token in cases.items():
        status, body = await call(jgw, token)
        assert status == 401, (name, body)
        assert body["error"]["code"] == "invalid_token", (name, body)
    assert (await call(jgw, sign(FIRST, ok)))[0] == 200
    within_leeway = {**ok, "iat": now - 600, "exp": now - 10}  # JWT_LEEWAY_S is 30
    assert (await call(jgw, sign(FIRST, within_leeway)))[0] == 200
    past_leeway = {**ok, "iat": now - 600, "exp": now - 45}
    assert (await call(jgw, sign(FIRST, past_leeway)))[0] == 401


async def test_scopes_limit_what_a_token_may_do(jgw: Gateway) -> None:
    t = await tenant(jgw)
    narrow = sign(FIRST, claims("u", account_id=t.account_id, scope="usage:read"))
    status, body = await call(jgw, narrow)
    assert status == 403 and "account:read" in body["error"]["message"]
    assert (await call(jgw, narrow, "/v1/account/usage"))[0] == 200
    none = {k: v for k, v in claims("u", account_id=t.account_id).items() if k != "scope"}
    assert (await call(jgw, sign(FIRST, none), "/v1/account/usage"))[0] == 403


async def test_key_rotation_at_the_identity_provider_mid_test(jgw: Gateway, idp: Jwks) -> None:
    t = await tenant(jgw)
    cache = jgw.app[JWT].jwks
    assert cache is not None
    clock = FakeClock()
    cache.clock = clock
    assert (await call(jgw, sign(FIRST, claims("u", account_id=t.account_id))))[0] == 200
    fetches = idp.fetches
    second = ec_key()
    idp.rotate(second, keep_old=False)
    new_token = sign(second, claims("u", account_id=t.account_id))
    clock.advance(31)
    status, body = await call(jgw, new_token)
    assert status == 200, body
    assert idp.fetches == fetches + 1
    # A flood of unknown kids costs the identity provider nothing more within 30 s.
    forged = [sign(rsa_key(f"forged-{i}"), claims("u")) for i in range(3)]
    for _ in range(30):
        results = await asyncio.gather(*(call(jgw, f) for f in forged))
        assert {s for s, _ in results} == {401}
    assert idp.fetches == fetches + 1
    old_token = sign(FIRST, claims("u", account_id=t.account_id))
    assert (await call(jgw, old_token))[0] == 401  # retired key, no longer published


async def test_revoked_jti_is_refused_everywhere_within_a_second(
    dsn: str, jgw: Gateway, idp: Jwks
) -> None:
    t = await tenant(jgw)
    token = sign(FIRST, claims("u", account_id=t.account_id))
    env = {**jwt_env(idp), "REDIS_PREFIX": jgw.settings.redis_prefix, "SETTLER_DISABLED": "1"}
    async with running_gateway(dsn, None, **env) as other:
        assert (await call(other, token))[0] == 200
        status, body = await call(jgw, token, "/v1/auth/revoke", "POST")
        assert status == 200 and body["revoked"] is True, body
        revoked_at = time.monotonic()
        status, body = await call(other, token)
        assert status == 401 and "revoked" in body["error"]["message"]
        assert time.monotonic() - revoked_at < 1.0
        fresh = sign(FIRST, claims("u", account_id=t.account_id))
        assert (await call(other, fresh))[0] == 200  # only that token


async def test_revoke_all_signs_a_user_out_of_every_token_issued_before(jgw: Gateway) -> None:
    t = await tenant(jgw)
    now = int(time.time())
    older = [
        sign(FIRST, claims("idp|bob", account_id=t.account_id, iat=now - 5 - i)) for i in range(3)
    ]
    someone_else = sign(FIRST, claims("idp|carol", account_id=t.account_id))
    status, body = await jgw.admin("POST", "/admin/v1/users/idp|bob/revoke-tokens")
    assert status == 200, body
    for token in older:
        assert (await call(jgw, token))[0] == 401
    assert (await call(jgw, someone_else))[0] == 200
    later = sign(FIRST, claims("idp|bob", account_id=t.account_id, iat=now + 2))
    assert (await call(jgw, later))[0] == 200
    ttl = await jgw.store.redis.ttl(jgw.store.keys.revoked_before("idp|bob"))
    assert 0 < ttl <= 86400 + 30


async def test_revoked_jti_lives_in_redis_only_as_long_as_the_token(jgw: Gateway) -> None:
    t = await tenant(jgw)
    now = int(time.time())
    token = sign(FIRST, claims("u", account_id=t.account_id, jti="short", exp=now + 120))
    assert (await call(jgw, token, "/v1/auth/revoke", "POST"))[0] == 200
    ttl = await jgw.store.redis.ttl(jgw.store.keys.revoked_token("short"))
    assert 100 <= ttl <= 121
