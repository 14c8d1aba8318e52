"""The JWKS cache against a real local JWKS endpoint, with the clock driven by the test."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from gateway.config.egress_rules import EgressPolicy
from gateway.outbound.sign_in.jwks import JwksCache, UnknownSigningKey
from gateway.outbound.sign_in.jwks_source import JwksSource
from tests.support.fakes.identity import FakeClock, Jwks, ec_key, jwks_server, rsa_key

# The local key server, admitted past the egress rules on purpose.
LOCAL = EgressPolicy(frozenset({"127.0.0.1"}), (), allow_http=True)


async def test_unknown_kid_flood_costs_one_fetch_per_30s() -> None:
    first = rsa_key()
    async with jwks_server(Jwks([first])) as idp:
        source, clock = JwksSource(idp.url, LOCAL), FakeClock()
        cache = JwksCache(source, clock=clock)
        try:
            assert (await cache.key(first.kid)).key_id == first.kid
            assert idp.fetches == 1
            forged = [cache.key(f"forged-{secrets.token_hex(4)}") for _ in range(500)]
            results = await asyncio.gather(*forged, return_exceptions=True)
            assert all(isinstance(r, UnknownSigningKey) for r in results)
            assert idp.fetches == 1  # the last fetch was under 30 s ago
            for _ in range(10):  # 5 minutes of floods: one fetch per 30 s, no more
                clock.advance(30)
                await asyncio.gather(
                    *(cache.key(f"forged-{i}") for i in range(50)), return_exceptions=True
                )
            assert idp.fetches == 11
            clock.advance(29.9)
            with pytest.raises(UnknownSigningKey):
                await cache.key("forged-again")
            assert idp.fetches == 11
        finally:
            await source.close()


async def test_concurrent_unknown_kids_share_one_refresh_in_flight() -> None:
    first = rsa_key()
    async with jwks_server(Jwks([first])) as idp:
        source, clock = JwksSource(idp.url, LOCAL), FakeClock()
        cache = JwksCache(source, clock=clock)
        try:
            new = rsa_key()
            idp.rotate(new)
            results = await asyncio.gather(*(cache.key(new.kid) for _ in range(200)))
            assert {r.key_id for r in results} == {new.kid}
            assert idp.fetches == 1
        finally:
            await source.close()


async def test_rotation_is_picked_up_and_an_outage_keeps_the_last_good_set() -> None:
    old, new = rsa_key(), ec_key()
    async with jwks_server(Jwks([old])) as idp:
        source, clock = JwksSource(idp.url, LOCAL), FakeClock()
        cache = JwksCache(source, clock=clock)
        try:
            await cache.key(old.kid)
            idp.rotate(new, keep_old=False)
            with pytest.raises(UnknownSigningKey):  # rotated, but a refresh ran just now
                await cache.key(new.kid)
            clock.advance(31)
            assert (await cache.key(new.kid)).key_type == "EC"
            assert cache.kids == {new.kid}  # the retired key is gone from the set
            idp.down = True
            clock.advance(31)
            with pytest.raises(UnknownSigningKey):
                await cache.key("unknown")
            assert idp.fetches == 3
            assert (await cache.key(new.kid)).key_id == new.kid  # last good set kept
        finally:
            await source.close()


async def test_a_jwks_that_was_never_reachable_recovers_after_the_interval() -> None:
    key = rsa_key()
    async with jwks_server(Jwks([key], down=True)) as idp:
        source, clock = JwksSource(idp.url, LOCAL), FakeClock()
        cache = JwksCache(source, clock=clock)
        try:
            with pytest.raises(UnknownSigningKey):
                await cache.key(key.kid)
            idp.down = False
            clock.advance(30)
            assert (await cache.key(key.kid)).key_id == key.kid
            assert idp.fetches == 2
        finally:
            await source.close()


async def test_symmetric_and_encryption_keys_are_never_taken_from_a_jwks() -> None:
    signing = rsa_key()

    async def fetch() -> dict[str, object]:
        return {
            "keys": [
                {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
                {**rsa_key("enc").jwk(), "use": "enc"},
                signing.jwk(),
            ]
        }

    cache = JwksCache(fetch, clock=FakeClock())
    await cache.refresh()
    assert cache.kids == {signing.kid}
