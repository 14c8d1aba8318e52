"""Issue 45, item 5: a person's alert webhook cannot point the gateway at its own network.
Registration answers 400 naming `webhook_url`; an alert that got past registration (made
before the rule, or a name that changed since) is refused at delivery and its receiver on
127.0.0.1 gets nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from billing.trust.alerts import UserAlert, new_alert_id
from gateway.http.appkeys import ACCOUNT_ALERTS
from tests.e2e.test_user_alerts import SCOPES, call, spend
from tests.support.factories import tenant
from tests.support.fakes.webhook_sink import webhook_sink
from tests.support.harness import Gateway, running_gateway

HOSTILE = [
    "http://127.0.0.1:6379/",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://localhost:6379/",
    "http://10.0.0.5:5432/",
    "http://[::1]:6379/",
    "http://[::ffff:127.0.0.1]:6379/",
    "http://[fd00:ec2::254]/",
    "http://100.64.0.1/",
    "http://0.0.0.0:8080/",
    "http://metadata.google.internal/computeMetadata/v1/",
]
ALERT = {"kind": "spend_above", "amount_micros": 1_000_000, "period": "month"}


async def _refused(gw: Gateway, key: str, url: str) -> dict[str, Any]:
    status, body = await call(gw, key, "POST", "/v1/account/alerts", ALERT | {"webhook_url": url})
    assert status == 400, (url, body)
    assert body["error"]["param"] == "webhook_url", body
    return dict(body["error"])


async def test_registration_refuses_internal_targets(dsn: str) -> None:
    async with running_gateway(dsn, EGRESS_ALLOW_HTTP="1") as gw:
        t = await tenant(gw, scopes=SCOPES)
        for url in HOSTILE:
            await _refused(gw, t.key, url)
        status, listed = await call(gw, t.key, "GET", "/v1/account/alerts")
        assert (status, listed["data"]) == (200, [])
        await gw.settle_all()


async def test_registration_requires_https_by_default(dsn: str) -> None:
    async with running_gateway(dsn) as gw:
        t = await tenant(gw, scopes=SCOPES)
        error = await _refused(gw, t.key, "http://hooks.example.com/x")
        assert "https" in error["message"]
        await gw.settle_all()


async def test_delivery_refuses_an_internal_target_registration_never_saw(dsn: str) -> None:
    env = {"EGRESS_ALLOW_HTTP": "1", "NOTIFY_INTERVAL_S": "0.1", "NOTIFY_BALANCE_LOW_MICROS": "0"}
    async with webhook_sink() as sink, running_gateway(dsn, None, **env) as gw:
        t = await tenant(gw, credit=10_000_000, scopes=SCOPES)
        alert = UserAlert(new_alert_id(), "spend_above", 1_000_000, "month")
        await gw.app[ACCOUNT_ALERTS].create(t.account_id, alert, None, sink.url)
        await spend(gw, t.account_id, 1_100)
        pool = gw.stores().pool
        sql = "SELECT last_error FROM notify_outbox WHERE account_id = $1 AND attempts > 0"
        errors: list[str] = []

        async def poll() -> None:
            while not errors:
                rows = await pool.fetch(sql, t.account_id)
                errors.extend(str(r["last_error"]) for r in rows)
                await asyncio.sleep(0.05)

        await asyncio.wait_for(poll(), 15)
        assert "egress refused" in errors[0] and "loopback" in errors[0], errors
        assert sink.deliveries == []
        await gw.settle_all()


@pytest.mark.parametrize("admit", ["127.0.0.1", "127.0.0.0/8"])
async def test_the_operator_admits_a_local_receiver_by_name(dsn: str, admit: str) -> None:
    env = {"EGRESS_ALLOW_HTTP": "1", "EGRESS_ALLOW_HOSTS": admit}
    async with webhook_sink() as sink, running_gateway(dsn, None, **env) as gw:
        t = await tenant(gw, scopes=SCOPES)
        status, made = await call(
            gw, t.key, "POST", "/v1/account/alerts", ALERT | {"webhook_url": sink.url}
        )
        assert status == 201, made
        await _refused(gw, t.key, "http://169.254.169.254/")  # still refused: not named
        await gw.settle_all()
