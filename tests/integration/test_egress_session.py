"""The outbound session with real sockets: what it refuses never receives a byte, a name that
rebinds to an internal address between registration and delivery is refused at delivery, a
redirect is a failed delivery and is not followed, and the operator's allow-list admits what
it names."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from gateway.config.egress_rules import EgressPolicy, EgressRefused, parse_allow
from gateway.outbound.egress import EgressResolver, checked_url, egress_session
from gateway.outbound.exports import LagoSink
from gateway.outbound.notify import post_signed
from tests.support.fakes.webhook_sink import Sink, webhook_sink
from tests.support.harness import listen

SECRET = "whsec-test-0123456789abcdef"
DELIVERY: dict[str, Any] = {
    "delivery_id": "dlv_1",
    "event": "balance.low",
    "account_id": "acct_1",
    "created_at": datetime.now(UTC),
    "payload": {"x": 1},
}


class Scripted(AbstractResolver):
    """A DNS that answers each name from a script, one answer per lookup (the last repeats):
    a rebinding name answers a public address first, then 127.0.0.1."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        name = host.rstrip(".")
        self.asked.append(name)
        script = self.answers[name]
        ip = script.pop(0) if len(script) > 1 else script[0]
        return [
            ResolveResult(
                hostname=name, host=ip, port=port, family=socket.AF_INET, proto=0, flags=0
            )
        ]

    async def close(self) -> None:
        return None


def _port(sink: Sink) -> int:
    return int(sink.url.rsplit(":", 1)[1].split("/")[0])


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    async with webhook_sink() as s:
        yield s


async def test_a_literal_internal_address_receives_nothing(sink: Sink) -> None:
    async with egress_session(EgressPolicy(allow_http=True)) as session:
        error = await post_signed(session, sink.url, SECRET, DELIVERY)
    assert error is not None and "egress refused" in error and "loopback" in error
    assert sink.deliveries == []


async def test_a_name_for_an_internal_address_receives_nothing(sink: Sink) -> None:
    dns = Scripted({"hooks.example.com": ["127.0.0.1"]})
    url = f"http://hooks.example.com:{_port(sink)}/hooks"
    async with egress_session(EgressPolicy(allow_http=True), dns) as session:
        error = await post_signed(session, url, SECRET, DELIVERY)
    assert error is not None and "egress refused" in error
    assert sink.deliveries == []


async def test_a_rebinding_name_passes_registration_and_is_refused_at_delivery(
    sink: Sink,
) -> None:
    dns = Scripted({"rebind.example.com": ["93.184.216.34", "127.0.0.1"]})
    policy = EgressPolicy(allow_http=True)
    url = f"http://rebind.example.com:{_port(sink)}/hooks"
    await checked_url(url, policy, dns)  # registration saw a public address
    async with egress_session(policy, dns) as session:
        error = await post_signed(session, url, SECRET, DELIVERY)
    assert error is not None and "egress refused" in error
    assert sink.deliveries == [] and dns.asked == ["rebind.example.com"] * 2


async def test_the_connection_goes_to_the_checked_address_only() -> None:
    """The resolver hands the connector what it checked: with an admitted network the
    delivery reaches the address checked, and no second lookup happens for the connect."""
    async with webhook_sink() as hooks:
        dns = Scripted({"hooks.example.com": ["127.0.0.1"]})
        hosts, nets = parse_allow("127.0.0.1/32")
        url = f"http://hooks.example.com:{_port(hooks)}/hooks"
        async with egress_session(EgressPolicy(hosts, nets, allow_http=True), dns) as session:
            assert await post_signed(session, url, SECRET, DELIVERY) is None
        assert hooks.deliveries == ["dlv_1"] and dns.asked == ["hooks.example.com"]


async def test_a_redirect_is_a_failed_delivery_and_is_not_followed(sink: Sink) -> None:
    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(sink.url)

    app = web.Application()
    app.router.add_post("/hooks", redirect)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = await listen(runner)
    try:
        hosts, nets = parse_allow("127.0.0.1")
        policy = EgressPolicy(hosts, nets, allow_http=True)
        async with egress_session(policy) as session:
            error = await post_signed(session, f"http://127.0.0.1:{port}/hooks", SECRET, DELIVERY)
            lago = LagoSink(session, f"http://127.0.0.1:{port}/hooks", "k", "c")
            status, _ = await lago._post(f"http://127.0.0.1:{port}/hooks", {})
    finally:
        await runner.cleanup()
    assert error == "webhook answered 307" and status == 307
    assert sink.deliveries == []


async def test_https_is_required_by_default(sink: Sink) -> None:
    hosts, nets = parse_allow("127.0.0.1")
    async with egress_session(EgressPolicy(hosts, nets)) as session:
        error = await post_signed(session, sink.url, SECRET, DELIVERY)
    assert error is not None and "https" in error
    assert sink.deliveries == []


async def test_registration_refuses_what_delivery_would() -> None:
    policy = EgressPolicy(allow_http=True)
    dns = Scripted({"internal.example.com": ["10.1.2.3"]})
    with pytest.raises(EgressRefused, match="private") as caught:
        await checked_url("http://internal.example.com/x", policy, dns)
    assert "10.1.2.3" not in str(caught.value)  # what our DNS answered is not told
    with pytest.raises(EgressRefused, match="does not resolve"):
        await checked_url("https://nowhere.invalid/x", policy)
    resolver = EgressResolver(policy, Scripted({"x.example.com": ["169.254.169.254"]}))
    with pytest.raises(OSError, match="metadata"):
        await resolver.resolve("x.example.com", 443)


async def test_the_plain_session_would_have_delivered(sink: Sink) -> None:
    """The control: the same delivery through a session without the rules arrives."""
    async with aiohttp.ClientSession() as session:
        assert await post_signed(session, sink.url, SECRET, DELIVERY) is None
    assert sink.deliveries == ["dlv_1"]


IPV6_FORMS = ["::7f00:1", "::ffff:0:7f00:1", "64:ff9b:1::7f00:1", "fec0::1", "::ffff:7f00:1"]


@pytest.mark.parametrize("address", IPV6_FORMS)
async def test_ipv6_forms_of_internal_addresses_are_refused_on_every_path(
    sink: Sink, address: str
) -> None:
    """Issue 56: the first four passed egress. As a literal, as a name's answer at delivery
    and at registration, the one classifier refuses them before anything is sent."""
    port = _port(sink)
    dns = Scripted({"hooks.example.com": [address]})
    policy = EgressPolicy(allow_http=True)
    async with egress_session(policy, dns) as session:
        for url in (f"http://[{address}]:{port}/hooks", f"http://hooks.example.com:{port}/h"):
            error = await post_signed(session, url, SECRET, DELIVERY)
            assert error is not None and "egress refused" in error, (url, error)
    with pytest.raises(EgressRefused):
        await checked_url(f"https://hooks.example.com:{port}/h", policy, dns)
    assert sink.deliveries == []
