"""Alert e-mail with SMTP set but no operator address (NOTIFY_EMAIL_TO unset): it goes to
the account's owner and billing members who accepted, not to other roles nor to a pending
invitation; an account with nobody to write to has its notification recorded once as
undeliverable, and the notifier does not try it again."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg

from gateway.http.appkeys import MEMBERS, NOTIFY
from gateway.outbound.notify import Sender, Undeliverable, WebhookSender
from gateway.workers.notifier import deliver_once
from tests.e2e.test_notify_smtp import first_mail, mailing_gateway, spend_below
from tests.support.factories import tenant
from tests.support.fakes.webhook_sink import SECRET, webhook_sink
from tests.support.harness import Gateway

ISSUER = "https://idp.example.test"


async def _member(gw: Gateway, account_id: str, email: str, role: str, accepted: bool) -> None:
    """A member who signed in once (bound to the identity provider), or a pending invitee."""
    subject = f"sub-{account_id}-{email}" if accepted else ""
    await gw.app[MEMBERS].add(account_id, email, ISSUER if accepted else "", subject, role)


async def _outbox(gw: Gateway, account_id: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(gw.settings.database_url)
    try:
        return list(
            await conn.fetch(
                "SELECT status, attempts, last_error FROM notify_outbox WHERE account_id = $1",
                account_id,
            )
        )
    finally:
        await conn.close()


async def test_alerts_go_to_owner_and_billing_members_when_no_operator_address(
    dsn: str,
) -> None:
    async with mailing_gateway(dsn, NOTIFY_EMAIL_TO="") as (gw, box):
        account_id = (await tenant(gw, credit=2_000_000)).account_id
        people = [
            ("own@example.test", "owner", True),
            ("pay@example.test", "billing", True),
            ("dev@example.test", "admin", True),
            ("look@example.test", "viewer", True),
            ("later@example.test", "billing", False),
        ]
        for email, role, accepted in people:
            await _member(gw, account_id, email, role, accepted)
        await spend_below(gw, account_id)
        await first_mail(box, account_id)
        [mail] = box.about(account_id)
        assert mail["To"] == "own@example.test, pay@example.test"
        assert mail["X-Envelope"].endswith("-> own@example.test,pay@example.test")


async def test_nobody_to_write_to_is_recorded_once_and_never_retried(dsn: str) -> None:
    async with mailing_gateway(dsn, NOTIFY_EMAIL_TO="") as (gw, box):
        account_id = (await tenant(gw, credit=2_000_000)).account_id
        await _member(gw, account_id, "dev@example.test", "admin", True)  # no money role
        await spend_below(gw, account_id)
        for _ in range(200):
            if await _outbox(gw, account_id):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(3.0)  # 30 notifier rounds, past the 2 s a retry would wait
        [row] = await _outbox(gw, account_id)
        assert (row["status"], row["attempts"]) == ("undeliverable", 1)
        assert "no recipient" in row["last_error"] and box.attempts == 0


class _Nobody:
    """A sender with nobody to write to (as SmtpSender without an address or a member)."""

    name = "smtp"

    async def send(self, delivery: Mapping[str, Any]) -> str | None:
        raise Undeliverable("no recipient")


async def test_a_retryable_failure_beside_nobody_is_retried_until_the_rest_is_done(
    gw: Gateway,
) -> None:
    """Only when every error is one no retry mends does the row stop: the webhook's failure
    is retried (the mail's 'nobody' with it), and once the webhook delivered the row is
    left as undeliverable, never picked again."""
    t = await tenant(gw)
    outbox = gw.app[NOTIFY]
    assert await outbox.emit(t.account_id, "payment.failed", {"payment_id": "pi_1"}, "pi_1")
    async with webhook_sink() as sink, aiohttp.ClientSession() as http:
        senders: list[Sender] = [_Nobody(), WebhookSender(http, sink.url, SECRET)]
        sink.fail_next = 1
        await deliver_once(outbox, senders)
        [row] = await _outbox(gw, t.account_id)
        assert (row["status"], row["attempts"]) == ("failed", 1)
        later = datetime.now(UTC) + timedelta(minutes=5)
        await deliver_once(outbox, senders, now=later)
        await deliver_once(outbox, senders, now=later + timedelta(hours=1))
    [row] = await _outbox(gw, t.account_id)
    assert (row["status"], row["attempts"]) == ("undeliverable", 2)
    assert [e["type"] for e in sink.events(t.account_id)] == ["payment.failed"]


async def test_the_operators_own_events_are_not_mailed_to_members(dsn: str) -> None:
    """What a customer's debit left uncollected is the operator's business: without
    NOTIFY_EMAIL_TO it is undeliverable, not sent to the account's owner."""
    async with mailing_gateway(dsn, NOTIFY_EMAIL_TO="") as (gw, box):
        account_id = (await tenant(gw)).account_id
        await _member(gw, account_id, "own@example.test", "owner", True)
        data = {"request_id": "req_1", "amount_micros": 5}
        assert await gw.app[NOTIFY].emit(account_id, "debit.uncollected", data, "h1")
        for _ in range(200):
            rows = await _outbox(gw, account_id)
            if rows and rows[0]["status"] != "pending":
                break
            await asyncio.sleep(0.05)
        [row] = await _outbox(gw, account_id)
        assert row["status"] == "undeliverable" and "operator" in row["last_error"]
        assert box.about(account_id) == [] and box.attempts == 0
