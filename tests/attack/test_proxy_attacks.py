"""Attacks on the client address (docs/guides/production.md, Behind proxies;
docs/concepts/security.md): a forwarding header from a peer not in TRUSTED_PROXIES is
ignored, from a trusted one it is read right to left; the address is read in one place for
the audit log and the sign-up limits. The test's own connection (127.0.0.1) is the peer.
Three gateways: one that trusts nobody the test is, one that trusts it for X-Forwarded-For,
one that trusts it for RFC 7239's Forwarded."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.factories import tenant
from tests.support.fakes.smtp_sink import smtp_server
from tests.support.harness import ADMIN_KEY, Gateway, running_gateway, temp_database

PEER = "127.0.0.1"


@dataclass
class Scene:
    untrusted: Gateway  # TRUSTED_PROXIES=10.0.0.0/8: the peer is not a proxy
    xff: Gateway  # TRUSTED_PROXIES=127.0.0.1,10.0.0.0/8
    fwd: Gateway  # TRUSTED_PROXIES=127.0.0.1, TRUSTED_PROXY_HEADER=Forwarded


@pytest.fixture(scope="module")
async def scene() -> AsyncIterator[Scene]:
    with smtp_server() as box:
        signup = {
            "SIGNUP_POLICY": "open",
            "SMTP_URL": box.url,
            "NOTIFY_EMAIL_FROM": "meterway@example.com",
            "PUBLIC_URL": "https://meter.example.com",
            "SIGNUP_LIMIT_CLIENT": "2",
            "SIGNUP_LIMIT_DOMAIN": "0",
        }
        async with (
            temp_database() as dsn,
            running_gateway(dsn, None, TRUSTED_PROXIES="10.0.0.0/8", **signup) as untrusted,
            running_gateway(dsn, None, TRUSTED_PROXIES=f"{PEER}, 10.0.0.0/8", **signup) as xff,
            running_gateway(
                dsn, None, TRUSTED_PROXIES=PEER, TRUSTED_PROXY_HEADER="Forwarded", **signup
            ) as fwd,
        ):
            yield Scene(untrusted, xff, fwd)


async def audited_address(gw: Gateway, headers: list[tuple[str, str]]) -> str:
    """The `client_address` of the audit record an operator's change made with these
    forwarding headers (a key's tags: `key.tags`)."""
    t = await tenant(gw, credit=0)
    marker = secrets.token_hex(4)
    hdrs: list[tuple[str, str]] = [("Authorization", f"Bearer {ADMIN_KEY}"), *headers]
    async with gw.http.put(
        gw.url + f"/admin/v1/keys/{t.key_id}/tags",
        json={"tags": {"probe": marker}},
        headers=hdrs,
    ) as r:
        assert r.status == 200, await r.text()
    status, body = await gw.admin("GET", f"/admin/v1/audit?target_id={t.key_id}&limit=20")
    assert status == 200, body
    records = [x for x in body["data"] if x["action"] == "key.tags"]
    assert len(records) == 1, body
    return str(records[0]["client_address"])


# ------------------------------------------------------------------ an untrusted peer


@pytest.mark.parametrize(
    "headers",
    [
        [("X-Forwarded-For", "203.0.113.5")],
        [("X-Forwarded-For", "203.0.113.5, 10.1.2.3")],
        [("Forwarded", "for=203.0.113.5")],
        [("X-Real-IP", "203.0.113.5")],
        [("X-Forwarded-For", "10.1.2.3")],
    ],
)
async def test_an_untrusted_peers_forwarding_header_is_ignored(
    scene: Scene, headers: list[tuple[str, str]]
) -> None:
    """production.md: "From any other peer the header is ignored: the peer is the client"."""
    assert await audited_address(scene.untrusted, headers) == PEER


async def test_an_untrusted_peer_cannot_spread_sign_ups_over_spoofed_addresses(
    scene: Scene,
) -> None:
    """sign-up.md `SIGNUP_LIMIT_CLIENT`: sign-ups asked for from one client address per
    window, then 429; production.md: a spoofed X-Forwarded-For from an untrusted peer is
    ignored, so rotating it does not rotate the client."""
    gw = scene.untrusted
    statuses = []
    for i in range(4):
        statuses.append(await register(gw, [("X-Forwarded-For", f"198.51.{100 + i}.{i + 1}")]))
    assert [s for s, _ in statuses] == [202, 202, 429, 429], statuses
    assert statuses[2][1]["error"]["code"] == "signup_rate_limited", statuses[2]


async def register(gw: Gateway, headers: list[tuple[str, str]]) -> tuple[int, Any]:
    email = f"p{secrets.token_hex(5)}@d{secrets.token_hex(3)}.example.org"
    async with gw.http.post(
        gw.url + "/v1/auth/register", json={"email": email}, headers=headers
    ) as r:
        try:
            return r.status, await r.json()
        except ValueError:
            return r.status, await r.text()


# ------------------------------------------------------------------ X-Forwarded-For


@pytest.mark.parametrize(
    ("value", "client"),
    [
        ("203.0.113.5", "203.0.113.5"),
        # the leftmost entries are the client's own to write: the rightmost untrusted wins
        ("198.51.100.1, 203.0.113.5", "203.0.113.5"),
        ("6.6.6.6,203.0.113.5", "203.0.113.5"),
        # trusted hops skipped
        ("203.0.113.5, 10.1.2.3", "203.0.113.5"),
        ("198.51.100.1, 203.0.113.5, 10.1.2.3, 127.0.0.1", "203.0.113.5"),
        # an entry that is no address ends the walk at the last trusted hop
        ("203.0.113.5, garbage, 10.1.2.3", "10.1.2.3"),
        ("garbage", PEER),
        ("", PEER),
        ("2001:db8::1", "2001:db8::1"),
        ("203.0.113.5, 2001:db8::7", "2001:db8::7"),
    ],
)
async def test_x_forwarded_for_from_a_trusted_peer_is_read_right_to_left(
    scene: Scene, value: str, client: str
) -> None:
    """production.md: "From such a peer, the forwarding header is read right to left,
    trusted hops skipped, and the first address not trusted is the client (as nginx's
    `real_ip_recursive` does); an entry that is no address ends the walk at the last trusted
    hop"."""
    assert await audited_address(scene.xff, [("X-Forwarded-For", value)]) == client


async def test_a_second_x_forwarded_for_line_is_the_same_list_read_right_to_left(
    scene: Scene,
) -> None:
    """production.md: the header is read right to left. A proxy that adds its own
    X-Forwarded-For line (HAProxy's `option forwardfor`) after the client's: the client's
    line is the leftmost part of the list, never the client address."""
    headers = [("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-For", "203.0.113.5")]
    assert await audited_address(scene.xff, headers) == "203.0.113.5"


async def test_the_other_header_is_ignored_under_x_forwarded_for(scene: Scene) -> None:
    """production.md `TRUSTED_PROXY_HEADER`: "the forwarding header read from a trusted
    peer: `X-Forwarded-For` or `Forwarded` (RFC 7239's `for=`); the other is ignored"."""
    assert await audited_address(scene.xff, [("Forwarded", "for=203.0.113.9")]) == PEER
    both = [("Forwarded", "for=203.0.113.9"), ("X-Forwarded-For", "198.51.100.4")]
    assert await audited_address(scene.xff, both) == "198.51.100.4"


async def test_sign_up_limits_count_the_forwarded_client_not_its_spoofed_prefix(
    scene: Scene,
) -> None:
    """sign-up.md `SIGNUP_LIMIT_CLIENT` (per client address) behind a trusted proxy: each
    client its own counter; a client prepending addresses of its own is still itself."""
    gw = scene.xff
    a, b = "203.0.113.77", "198.51.100.77"
    got = [
        (await register(gw, [("X-Forwarded-For", a)]))[0],
        (await register(gw, [("X-Forwarded-For", f"1.1.1.1, {a}")]))[0],
        (await register(gw, [("X-Forwarded-For", f"9.9.9.9, {a}")]))[0],
        (await register(gw, [("X-Forwarded-For", b)]))[0],
        (await register(gw, [("X-Forwarded-For", f"{b}, 10.0.0.1")]))[0],
    ]
    assert got == [202, 202, 429, 202, 202], got


# ------------------------------------------------------------------ Forwarded (RFC 7239)


@pytest.mark.parametrize(
    ("value", "client"),
    [
        ("for=203.0.113.5", "203.0.113.5"),
        ('for="203.0.113.5:8080"', "203.0.113.5"),
        ('for="[2001:db8::7]:4711"', "2001:db8::7"),
        ("for=198.51.100.1, for=203.0.113.5;proto=https", "203.0.113.5"),
        ("for=203.0.113.5;proto=https;by=127.0.0.1, for=127.0.0.1", "203.0.113.5"),
        ("For=203.0.113.5", "203.0.113.5"),
        ("for=unknown", PEER),
        ("for=_hidden, for=127.0.0.1", PEER),
    ],
)
async def test_forwarded_from_a_trusted_peer_is_read_right_to_left(
    scene: Scene, value: str, client: str
) -> None:
    """production.md `TRUSTED_PROXY_HEADER=Forwarded` (RFC 7239's `for=`), read right to
    left as X-Forwarded-For is; an entry that is no address (`unknown`, an obfuscated
    `_hidden`) ends the walk at the last trusted hop."""
    assert await audited_address(scene.fwd, [("Forwarded", value)]) == client


async def test_x_forwarded_for_is_ignored_under_forwarded(scene: Scene) -> None:
    """production.md: "the other is ignored"."""
    assert await audited_address(scene.fwd, [("X-Forwarded-For", "203.0.113.9")]) == PEER
    both = [("X-Forwarded-For", "6.6.6.6"), ("Forwarded", "for=198.51.100.4")]
    assert await audited_address(scene.fwd, both) == "198.51.100.4"
