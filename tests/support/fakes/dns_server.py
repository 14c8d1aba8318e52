"""A DNS server the tests control (UDP, the real wire format by dnspython): it answers TXT
questions from `zone`, NXDOMAIN for any other name. Domain claims' proofs are looked up here
(DOMAIN_DNS_RESOLVER)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import cast

import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from tests.support.harness import free_port


@dataclass
class Zone:
    address: str
    txt: dict[str, list[str]] = field(default_factory=dict)  # name -> its TXT values
    asked: list[str] = field(default_factory=list)

    def answer(self, wire: bytes) -> bytes:
        query = dns.message.from_wire(wire)
        reply = dns.message.make_response(query)
        for question in query.question:
            name = question.name.to_text(omit_final_dot=True).lower()
            self.asked.append(name)
            values = self.txt.get(name)
            if question.rdtype != dns.rdatatype.TXT or values is None:
                reply.set_rcode(dns.rcode.NXDOMAIN)
                continue
            quoted = [f'"{v}"' for v in values]
            reply.answer.append(
                dns.rrset.from_text(
                    question.name, 60, dns.rdataclass.IN, dns.rdatatype.TXT, *quoted
                )
            )
        return reply.to_wire()


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, zone: Zone) -> None:
        self.zone = zone
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(self.zone.answer(data), addr)


@asynccontextmanager
async def dns_server() -> AsyncIterator[Zone]:
    """The server on 127.0.0.1 (a free port); `zone.address` is DOMAIN_DNS_RESOLVER's value."""
    port = free_port()
    zone = Zone(f"127.0.0.1:{port}")
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: _Protocol(zone), local_addr=("127.0.0.1", port)
    )
    try:
        yield zone
    finally:
        transport.close()
