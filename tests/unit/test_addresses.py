"""The one address classifier (gateway/addresses.py), fuzzed: an IPv6 address that carries
an internal IPv4 address in any form is refused, nothing the standard library calls
non-global (or multicast, or outside IPv6's global unicast) is accepted, and every egress
path (the URL check, the resolved addresses, the scrubber) answers with it."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gateway.addresses import GLOBAL_UNICAST, V4_RANGES, carried, is_internal, refusal
from gateway.config.egress_rules import EgressPolicy, EgressRefused, check_addresses, check_url
from gateway.llm.scrub import for_client

V4 = ipaddress.IPv4Address
V6 = ipaddress.IPv6Address
HTTP = EgressPolicy(allow_http=True)

# Issue 56: each was accepted by egress before.
ACCEPTED_BEFORE = [
    "::7f00:1",  # IPv4-compatible 127.0.0.1
    "::ffff:0:7f00:1",  # IPv4-translated 127.0.0.1
    "64:ff9b:1::7f00:1",  # local-use NAT64 of 127.0.0.1
    "fec0::1",  # site-local
    "::a00:1",  # IPv4-compatible 10.0.0.1
    "::ffff:0:a9fe:a9fe",  # IPv4-translated metadata
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
    "5f00::1",  # SRv6, outside global unicast
    "198.18.0.1",  # benchmarking
]


@pytest.mark.parametrize("address", ACCEPTED_BEFORE)
def test_the_forms_egress_accepted_are_refused_on_every_path(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is not None
    with pytest.raises(EgressRefused):
        check_addresses("hooks.example.com", [address], EgressPolicy())
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(EgressRefused):
        check_url(f"http://{host}/hook", HTTP)
    assert is_internal(address)
    assert address not in for_client(f"upstream http://{host}:8443/v1 failed")


def _internal_v4() -> st.SearchStrategy[V4]:
    """An IPv4 address inside one of the refused blocks."""
    nets = [net for _, group in V4_RANGES for net in group]
    return st.sampled_from(nets).flatmap(
        lambda net: st.integers(0, net.num_addresses - 1).map(
            lambda n: V4(int(net.network_address) + n)
        )
    )


def _wrapped(v4: V4, form: str, rest: int) -> V6:
    """`v4` carried in an IPv6 address of `form`; `rest` fills the bits the form leaves free."""
    n = int(v4)
    if form == "mapped":
        return V6((0xFFFF << 32) | n)
    if form == "translated":
        return V6((0xFFFF << 48) | n)
    if form == "compatible":
        return V6(n)
    if form == "nat64":
        return V6((0x64FF9B << 96) | n)
    if form == "nat64-local":
        return V6((0x64FF9B0001 << 80) | (rest & ((1 << 48) - 1)) << 32 | n)
    if form == "6to4":
        return V6((0x2002 << 112) | (n << 80) | (rest & ((1 << 80) - 1)))
    # Teredo: 2001:0000:server:flags:port:client, the client's address inverted
    server = rest & 0xFFFFFFFF
    flags_port = (rest >> 32) & 0xFFFFFFFF
    return V6((0x20010000 << 96) | (server << 64) | (flags_port << 32) | (n ^ 0xFFFFFFFF))


FORMS = ["mapped", "translated", "compatible", "nat64", "nat64-local", "6to4", "teredo"]


@settings(max_examples=600, deadline=None)
@given(_internal_v4(), st.sampled_from(FORMS), st.integers(0, (1 << 96) - 1))
@example(V4("127.0.0.1"), "compatible", 0)
@example(V4("127.0.0.1"), "translated", 0)
@example(V4("127.0.0.1"), "nat64-local", 0)
@example(V4("0.0.0.0"), "compatible", 0)
@example(V4("0.0.0.1"), "compatible", 0)
def test_an_internal_ipv4_address_is_refused_in_every_form_that_carries_it(
    v4: V4, form: str, rest: int
) -> None:
    wrapped = _wrapped(v4, form, rest)
    if int(wrapped) > 1:  # `::` and `::1` (compatible 0.0.0.0, 0.0.0.1) are themselves
        assert v4 in carried(wrapped), (form, wrapped)
    assert refusal(wrapped) is not None, (form, wrapped)
    with pytest.raises(EgressRefused):
        check_addresses("hooks.example.com", [str(wrapped)], EgressPolicy())


@settings(max_examples=2000, deadline=None)
@given(st.integers(0, (1 << 32) - 1))
def test_no_ipv4_address_the_standard_library_calls_internal_is_accepted(n: int) -> None:
    ip = V4(n)
    if not ip.is_global or ip.is_multicast or ip.is_private or ip.is_reserved:
        assert refusal(ip) is not None, ip
    if refusal(ip) is None:
        assert ip.is_global and not ip.is_multicast


V6_ANY = st.one_of(
    st.integers(0, (1 << 128) - 1),
    st.integers(0, (1 << 32) - 1),  # the compatible and unspecified corner
    st.integers(0, (1 << 48) - 1).map(lambda n: n | (0xFFFF << 32)),  # mapped, translated
    st.integers(0, (1 << 112) - 1).map(lambda n: n | (0xFE << 120)),  # link/site-local, ULA
    st.integers(0, (1 << 96) - 1).map(lambda n: n | (0x20010000 << 96)),  # Teredo
    st.integers(0, (1 << 112) - 1).map(lambda n: n | (0x2002 << 112)),  # 6to4
)


@settings(max_examples=3000, deadline=None)
@given(V6_ANY)
def test_an_accepted_ipv6_address_is_public_and_carries_only_public_ipv4(n: int) -> None:
    ip = V6(n)
    why = refusal(ip)
    if why is not None:
        assert isinstance(why, str) and why
        return
    assert not ip.is_multicast and not ip.is_loopback and not ip.is_link_local
    assert not ip.is_site_local and not ip.is_unspecified
    assert all(refusal(inner) is None for inner in carried(ip))
    if not carried(ip):
        assert ip in GLOBAL_UNICAST and ip.is_global


PUBLIC = [
    "8.8.8.8",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
]


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_and_their_carriers_pass(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None
    check_addresses("hooks.example.com", [address], EgressPolicy())
