"""The client's address behind proxies (gateway/http/client_address.py): a forwarding header
is believed only from a trusted peer and only up to the first hop not trusted; and nothing
but that module reads the peer or a forwarding header."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest

from gateway.config.proxies import ProxySettings, proxy_settings
from gateway.config.values import ConfigError
from gateway.http.client_address import client_of

LB = ProxySettings((ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")))
FWD = ProxySettings(LB.networks, "forwarded")
NOBODY = ProxySettings()


def test_a_peer_not_trusted_is_the_client_whatever_it_forwards() -> None:
    assert client_of("198.51.100.7", ["203.0.113.9"], LB) == "198.51.100.7"
    assert client_of("198.51.100.7", ["10.0.0.1"], LB) == "198.51.100.7"
    assert client_of("10.1.2.3", ["203.0.113.9"], NOBODY) == "10.1.2.3"  # default: no one


def test_a_trusted_chain_names_the_first_address_not_trusted_from_the_right() -> None:
    # The client wrote a spoofed 1.2.3.4; the ingress appended what it saw, 203.0.113.9;
    # the inner balancer appended the ingress, 10.0.0.5.
    assert client_of("10.0.0.2", ["1.2.3.4, 203.0.113.9, 10.0.0.5"], LB) == "203.0.113.9"
    assert client_of("10.0.0.2", ["1.2.3.4", "203.0.113.9, 10.0.0.5"], LB) == "203.0.113.9"
    assert client_of("10.0.0.2", ["203.0.113.9:51234"], LB) == "203.0.113.9"
    assert client_of("10.0.0.2", [], LB) == "10.0.0.2"  # no header: the proxy itself
    assert client_of("10.0.0.2", ["10.0.0.9, 10.0.0.5"], LB) == "10.0.0.9"  # all trusted


def test_ipv6_hops_and_clients() -> None:
    assert client_of("fd00::1", ["2001:db8:1::7, fd00::2"], LB) == "2001:db8:1::7"
    assert client_of("fd00::1", ["[2001:db8:1::7]:443"], LB) == "2001:db8:1::7"
    assert client_of("::ffff:10.0.0.2", ["203.0.113.9"], LB) == "203.0.113.9"  # dual stack
    assert client_of("2001:db8::5", ["203.0.113.9"], LB) == "2001:db8::5"


@pytest.mark.parametrize(
    ("header", "client"),
    [("203.0.113.9, garbage, 10.0.0.5", "10.0.0.5"), ("unknown", "10.0.0.2"), ("", "10.0.0.2"),
     (",,", "10.0.0.2"), ("999.1.1.1", "10.0.0.2"), ("203.0.113.9 10.0.0.5", "10.0.0.2"),
     ("[::1", "10.0.0.2"), ("203.0.113.9, ", "10.0.0.2")],
)  # fmt: skip
def test_an_entry_that_is_no_address_ends_the_walk_at_the_last_hop_vouched_for(
    header: str, client: str
) -> None:
    assert client_of("10.0.0.2", [header], LB) == client


def test_rfc_7239_forwarded() -> None:
    header = 'for=1.2.3.4, for="[2001:db8:cafe::17]:4711";proto=https, For=10.0.0.5'
    assert client_of("10.0.0.2", [header], FWD) == "2001:db8:cafe::17"
    assert client_of("10.0.0.2", ["for=_hidden, for=10.0.0.5"], FWD) == "10.0.0.5"
    assert client_of("10.0.0.2", ["proto=https"], FWD) == "10.0.0.2"
    assert client_of("198.51.100.7", ["for=203.0.113.9"], FWD) == "198.51.100.7"


def _read(env: dict[str, str]) -> ProxySettings:
    return proxy_settings(lambda name, default: env.get(name, default))


def test_the_settings() -> None:
    read = _read({"TRUSTED_PROXIES": " 10.0.0.0/8, 192.0.2.1 ,fd00::/8"})
    assert [str(n) for n in read.networks] == ["10.0.0.0/8", "192.0.2.1/32", "fd00::/8"]
    assert read.header == "x-forwarded-for"
    assert _read({}) == NOBODY
    assert _read({"TRUSTED_PROXY_HEADER": "Forwarded"}).header == "forwarded"
    for bad in ({"TRUSTED_PROXIES": "10.0.0.0/33"}, {"TRUSTED_PROXY_HEADER": "X-Real-IP"}):
        with pytest.raises(ConfigError):
            _read(bad)


READERS = re.compile(r"\.remote\b|peername|forwarded-for|\"forwarded\"", re.IGNORECASE)


def test_nothing_else_reads_the_peer_or_a_forwarding_header() -> None:
    root = Path(__file__).resolve().parents[2] / "gateway"
    allowed = {root / "http" / "client_address.py", root / "config" / "proxies.py"}
    readers = [
        f"{path.relative_to(root)}:{n}"
        for path in sorted(root.rglob("*.py"))
        if path not in allowed
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if READERS.search(line)
    ]
    assert readers == []
