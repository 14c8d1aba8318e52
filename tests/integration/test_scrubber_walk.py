"""The scrubber walk: secrets are never echoed. For each outbound client Meterway has that
keeps or prints what a third party answered (the providers, the providers' report APIs,
Stripe, the usage sinks, the identity provider, ClickHouse, the OTLP collector), a local
server answers with an error body repeating every credential it was sent
(tests/support/fakes/echo_credentials.py), and the secret must appear nowhere Meterway
keeps or prints it: the exception's text (what
the one middleware renders to a client, what a CLI prints), the error it stores, the lines it
logs. Each client passes that text through the one scrubber (gateway/scrubbing.py); with the
scrubber turned into the identity, every step here fails.

The secrets have no credential's shape (no `sk-`, no `Bearer ` left in front), so only the
exact-secret pass can catch them: the walk proves each client hands its own secrets over.
Not walked, as no step there could fail: webhooks, e-mail (SMTP) and the FX rate source keep
only an answer's status, never its body; JWKS and SAML metadata are fetched with no
credential to echo."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import aiohttp
import openai
import pytest

from billing.money.plans import PlanBook
from billing.usage.exports import ExportRow
from gateway.config.analytics import AnalyticsSettings
from gateway.config.egress_rules import EgressPolicy
from gateway.config.reconcile import UpstreamReports
from gateway.config.settings import SigninSettings
from gateway.config.traces import Export
from gateway.logs import install_log_redaction
from gateway.outbound import otlp
from gateway.outbound.exports import LagoSink, StripeMeterSink
from gateway.outbound.provider_reports import pages
from gateway.outbound.sign_in.oidc_client import Attempt, OidcClient
from gateway.payments.stripe_provider import StripeProvider
from gateway.stores.clickhouse.http import ClickHouseHttp
from tests.support.factories import openai_client, tenant
from tests.support.fakes.echo_credentials import Echo, echo_server
from tests.support.harness import running_gateway, temp_database

Step = Callable[[Echo, str, aiohttp.ClientSession], Awaitable[str]]
ROW = ExportRow(1, "acct_walk", "req_walk", 1500, datetime.now(UTC), "cus_walk")


async def _raised(call: Awaitable[object]) -> str:
    """The text of what the call raised: what a client, a CLI or a stored error gets."""
    try:
        await call
    except Exception as exc:
        return f"{type(exc).__name__}: {exc} {getattr(exc, 'message', '')}"
    raise AssertionError("the echoing server's error was not an error")


async def provider_reports(echo: Echo, secret: str, session: aiohttp.ClientSession) -> str:
    source = UpstreamReports("openai", secret, echo.url + "/v1", "", "openai")
    return await _raised(pages(session, source, "/organization/costs", []))


async def stripe(echo: Echo, secret: str, session: aiohttp.ClientSession) -> str:
    provider = StripeProvider(secret, ("whsec_" + secret,), PlanBook({}, ""), api_base=echo.url)
    try:
        return await _raised(provider.ensure_customer("acct_walk", None))
    finally:
        await provider.close()


async def stripe_meter_events(echo: Echo, secret: str, session: aiohttp.ClientSession) -> str:
    (outcome,) = await StripeMeterSink(session, secret, "usage", echo.url).send([ROW])
    return str(outcome.error)


async def lago(echo: Echo, secret: str, session: aiohttp.ClientSession) -> str:
    (outcome,) = await LagoSink(session, echo.url, secret, "usage").send([ROW])
    return str(outcome.error)


async def identity_provider(echo: Echo, secret: str, session: aiohttp.ClientSession) -> str:
    settings = SigninSettings(
        oidc_issuer=echo.url, oidc_client_id="meterway", oidc_client_secret=secret
    )
    egress = EgressPolicy(frozenset({"127.0.0.1"}), (), allow_http=True)
    client = OidcClient(settings, "http://127.0.0.1/cb", _NoRevocations(), egress)
    try:
        return await _raised(client.identity("the-code", Attempt.new()))
    finally:
        await client.close()


class _NoRevocations:
    async def is_revoked(self, subject: str, jti: str | None, issued_at: int) -> bool:
        return False


async def clickhouse(echo: Echo, secret: str, session: aiohttp.ClientSession) -> str:
    settings = AnalyticsSettings(url=echo.url, user="meterway", password=secret)
    return await _raised(ClickHouseHttp(settings, session).execute("SELECT 1"))


async def otlp_collector(echo: Echo, secret: str, session: aiohttp.ClientSession) -> str:
    export = Export(endpoint=echo.url + "/v1/traces", headers=(("x-api-key", secret),))
    return await otlp.post(session, export, b"")


STEPS: dict[str, Step] = {
    "provider reports": provider_reports,
    "stripe": stripe,
    "stripe meter events": stripe_meter_events,
    "lago": lago,
    "identity provider": identity_provider,
    "clickhouse": clickhouse,
    "otlp collector": otlp_collector,
}


@pytest.fixture
async def echo() -> AsyncIterator[Echo]:
    async with echo_server() as server:
        yield server


@pytest.mark.parametrize("client", sorted(STEPS))
async def test_an_echoed_credential_is_kept_nowhere(
    client: str, echo: Echo, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "walk" + secrets.token_hex(12)
    install_log_redaction([secret])  # as create_app does with every secret the settings declare
    caplog.set_level(logging.DEBUG)  # a library's own lines too (Stripe's SDK logs its answers)
    async with aiohttp.ClientSession() as session:
        kept = await STEPS[client](echo, secret, session)
    assert echo.asked, f"{client} never reached the echoing server"
    assert secret not in kept, kept
    assert secret not in caplog.text


async def test_a_provider_echoing_the_upstream_key_reaches_no_client_and_no_log(
    echo: Echo, caplog: pytest.LogCaptureFixture
) -> None:
    """The providers: the gateway forwards with the operator's key to an upstream that
    repeats it; the SDK's error, and every line logged, are without it."""
    secret = "walk" + secrets.token_hex(12)
    caplog.set_level(logging.DEBUG)
    env = {"OPENAI_BASE_URL": echo.url + "/v1", "OPENAI_API_KEY": secret}
    async with temp_database() as dsn, running_gateway(dsn, None, **env) as gw:
        t = await tenant(gw)
        async with openai_client(gw, t.key) as client:
            with pytest.raises(openai.APIStatusError) as raised:
                await client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
                )
    assert echo.asked
    assert secret not in str(raised.value.body) and secret not in raised.value.message
    assert secret not in caplog.text
