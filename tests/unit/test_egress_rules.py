"""The egress rules: a URL someone typed never sends the gateway into its own network
(loopback, private, link-local, metadata, CGNAT, unspecified, multicast, and IPv6 forms of
each), plain http only when admitted, internal hosts only when the operator names them."""

from __future__ import annotations

import ipaddress

import pytest

from gateway.addresses import refusal
from gateway.config.egress_rules import (
    EgressPolicy,
    EgressRefused,
    check_addresses,
    check_url,
    parse_allow,
)
from gateway.config.settings import load_settings
from gateway.config.values import ConfigError

GOOD = {"DATABASE_URL": "postgresql://meterway@db/meterway", "ADMIN_API_KEY": "x" * 16}
STRICT = EgressPolicy()
HTTP = EgressPolicy(allow_http=True)

REFUSED = [
    "127.0.0.1",
    "127.9.9.9",
    "0.0.0.0",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",
    "169.254.1.1",
    "100.64.0.1",
    "100.100.100.200",
    "224.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fc00::1",
    "fd00:ec2::254",
    "fe80::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "64:ff9b::a01:203",  # NAT64 of 10.1.2.3
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
]


@pytest.mark.parametrize("address", REFUSED)
def test_internal_addresses_are_refused(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is not None
    with pytest.raises(EgressRefused):
        check_addresses("hooks.example.com", [address], STRICT)
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(EgressRefused):
        check_url(f"http://{host}:6379/", HTTP)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None
    check_addresses("hooks.example.com", [address], STRICT)


def test_one_internal_answer_among_public_ones_is_refused() -> None:
    with pytest.raises(EgressRefused, match="loopback"):
        check_addresses("rebind.example", ["93.184.216.34", "127.0.0.1"], STRICT)
    with pytest.raises(EgressRefused, match="does not resolve"):
        check_addresses("nothing.example", [], STRICT)


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:6379/",
        "https://LOCALHOST./x",
        "https://api.localhost/x",
        "http://metadata.google.internal/computeMetadata/v1/",
    ],
)
def test_names_of_this_machine_and_metadata_are_refused(url: str) -> None:
    with pytest.raises(EgressRefused):
        check_url(url, HTTP)


def test_https_is_required_unless_http_is_admitted() -> None:
    with pytest.raises(EgressRefused, match="EGRESS_ALLOW_HTTP"):
        check_url("http://hooks.example.com/x", STRICT)
    assert check_url("http://hooks.example.com/x", HTTP) == "hooks.example.com"
    assert check_url("https://Hooks.Example.com./x", STRICT) == "hooks.example.com"
    for bad in ("ftp://hooks.example.com/", "https:///x", "https://u:p@hooks.example.com/"):
        with pytest.raises(EgressRefused):
            check_url(bad, HTTP)


def test_the_allow_list_admits_hosts_and_networks_on_purpose() -> None:
    hosts, nets = parse_allow(" hooks.internal , 10.0.0.0/8, 127.0.0.1, [fd00::1] ")
    policy = EgressPolicy(hosts, nets, allow_http=True)
    assert check_url("http://hooks.internal:8080/x", policy) == "hooks.internal"
    check_addresses("hooks.internal", ["127.0.0.1"], policy)  # the name is admitted
    check_addresses("other.example", ["10.9.9.9"], policy)  # the network is admitted
    check_url("http://127.0.0.1:9000/", policy)
    check_url("http://[fd00::1]/", policy)
    with pytest.raises(EgressRefused):
        check_addresses("other.example", ["192.168.0.1"], policy)
    with pytest.raises(ValueError):
        parse_allow("10.0.0.0/33")
    with pytest.raises(ValueError):
        parse_allow("http://x/")


def test_settings_refuse_an_operator_url_to_an_internal_address() -> None:
    hook = {"NOTIFY_WEBHOOK_URL": "http://127.0.0.1:9/hooks", "NOTIFY_WEBHOOK_SECRET": "s" * 16}
    with pytest.raises(ConfigError, match="NOTIFY_WEBHOOK_URL"):
        load_settings(GOOD | hook)
    with pytest.raises(ConfigError, match="LAGO_API_URL"):
        load_settings(GOOD | {"LAGO_API_URL": "https://10.0.0.5/", "LAGO_API_KEY": "k"})
    admitted = load_settings(
        GOOD | hook | {"EGRESS_ALLOW_HOSTS": "127.0.0.1", "EGRESS_ALLOW_HTTP": "1"}
    )
    assert admitted.outbound.egress.allow_http
    with pytest.raises(ConfigError, match="EGRESS_ALLOW_HOSTS"):
        load_settings(GOOD | {"EGRESS_ALLOW_HOSTS": "http://x/"})
    # Stripe's API base is the payment provider's (operator config) unless meter events use it.
    load_settings(GOOD | {"STRIPE_API_BASE": "http://127.0.0.1:12111"})
