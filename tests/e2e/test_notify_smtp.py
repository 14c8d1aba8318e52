"""Notification e-mail end to end: a gateway configured with SMTP_URL, its own notifier worker,
and a local mail server speaking real SMTP (tests/support/fakes/smtp_sink.py). A balance
crossing below the account's threshold arrives as exactly one message with the delivery's
content, also when the server refuses it once (451) or fails after accepting it (421 to
QUIT)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.message import EmailMessage

from tests.support.billing_client import biller
from tests.support.factories import tenant
from tests.support.fakes.smtp_sink import Mailbox, smtp_server
from tests.support.fakes.webhook_sink import SECRET, webhook_sink
from tests.support.harness import LOCAL_SINKS, Gateway, free_port, running_gateway
from tests.support.metering_client import event, service

FROM, TO = "meterway@example.test", "billing-ops@example.test"
THRESHOLD = 500_000
RETRY_S = 2.0  # the notifier's first retry comes 2 s after a failed delivery


@asynccontextmanager
async def mailing_gateway(dsn: str, **extra: str) -> AsyncIterator[tuple[Gateway, Mailbox]]:
    with smtp_server() as box:
        env = {"SMTP_URL": box.url, "NOTIFY_EMAIL_FROM": FROM, "NOTIFY_EMAIL_TO": TO, **extra}
        # No default threshold: an account alerts only once it set its own, after its credit.
        env |= {"NOTIFY_INTERVAL_S": "0.1", "NOTIFY_BALANCE_LOW_MICROS": "0"}
        async with running_gateway(dsn, None, **env) as gw:
            yield gw, box


async def cross_below(gw: Gateway) -> str:
    """An account at 2,000,000 micros with a 500,000 threshold spends 1,600,000."""
    t = await tenant(gw, credit=2_000_000)
    await spend_below(gw, t.account_id)
    return t.account_id


async def spend_below(gw: Gateway, account_id: str) -> None:
    """The account (at 2,000,000 micros) sets a 500,000 threshold and spends 1,600,000."""
    path = f"/admin/v1/accounts/{account_id}/alerts"
    status, _ = await gw.admin("PUT", path, {"balance_low_micros": THRESHOLD})
    assert status == 200
    svc = await service(gw, "api_calls")  # 1,000 micros a call
    _, body = await svc.events([event(account_id, "api_calls", 1_600, "spend")])
    assert body["debited"] == 1, body
    await gw.settle_all()


async def first_mail(box: Mailbox, account_id: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not box.about(account_id):
        assert time.monotonic() < deadline, "no e-mail arrived"
        await asyncio.sleep(0.05)


def check_content(mail: EmailMessage, account_id: str) -> None:
    assert mail["Subject"] == f"[meterway] Your balance is low ({account_id})"
    assert (mail["From"], mail["To"], mail["X-Envelope"]) == (FROM, TO, f"{FROM} -> {TO}")
    body = mail.get_body(("plain",))
    assert body is not None
    assert "The available balance is $0.40, under $0.50." in body.get_content()
    [attached] = list(mail.iter_attachments())  # the delivery's JSON, for programs
    envelope = json.loads(attached.get_content())
    assert mail["Message-ID"] == f"<{envelope['id']}@meterway>"
    assert (envelope["type"], envelope["account_id"]) == ("balance.low", account_id)
    assert envelope["data"] == {"balance_micros": 400_000, "threshold_micros": THRESHOLD}


async def test_a_balance_low_crossing_sends_exactly_one_email(dsn: str) -> None:
    async with mailing_gateway(dsn) as (gw, box):
        account_id = await cross_below(gw)
        await first_mail(box, account_id)
        await asyncio.sleep(1.0)  # ten more notifier rounds: nothing fires again
        [mail] = box.about(account_id)
        check_content(mail, account_id)


async def test_a_temporary_smtp_refusal_is_retried_into_one_email(dsn: str) -> None:
    async with mailing_gateway(dsn) as (gw, box):
        box.refuse_next = 1
        account_id = await cross_below(gw)
        await first_mail(box, account_id)
        assert box.attempts == 2  # refused once (451, nothing stored), then accepted
        await asyncio.sleep(RETRY_S + 1.0)
        [mail] = box.about(account_id)
        check_content(mail, account_id)
        assert box.attempts == 2


async def test_a_failure_after_the_server_accepted_sends_no_duplicate(dsn: str) -> None:
    """250 after DATA means the message is delivered; a 421 to QUIT afterwards is not a
    reason to send it again."""
    async with mailing_gateway(dsn) as (gw, box):
        box.fail_quit_next = 1
        account_id = await cross_below(gw)
        await first_mail(box, account_id)
        await asyncio.sleep(RETRY_S + 1.0)  # past the retry a failure would have scheduled
        [mail] = box.about(account_id)
        check_content(mail, account_id)
        assert box.attempts == 1 and box.fail_quit_next == 0


async def test_a_mail_retry_does_not_repeat_the_webhook(dsn: str) -> None:
    """Each sender's success is kept with the outbox row: the retry after the 451 goes to
    the mail server only; the webhook had its delivery the first time."""
    async with webhook_sink() as sink:
        hook = {"NOTIFY_WEBHOOK_URL": sink.url, "NOTIFY_WEBHOOK_SECRET": SECRET, **LOCAL_SINKS}
        async with mailing_gateway(dsn, **hook) as (gw, box):
            box.refuse_next = 1
            account_id = await cross_below(gw)
            await first_mail(box, account_id)
            await asyncio.sleep(RETRY_S + 1.0)
            [mail] = box.about(account_id)
            check_content(mail, account_id)
    [hooked] = sink.events(account_id)
    assert hooked["type"] == "balance.low" and sink.deliveries.count(hooked["id"]) == 1
    assert mail["Message-ID"] == f"<{hooked['id']}@meterway>" and sink.bad_signatures == 0


async def test_a_refund_is_mailed_once_in_words(dsn: str) -> None:
    """A refund of $5.00 of a $15.00 top-up reached nobody: the customer learnt of it only
    from their card statement. It is mailed once, the operator's replay included."""
    async with mailing_gateway(dsn) as (gw, box):
        b = await biller(gw)
        await b.topup(15_000_000)
        payment_id = (await b.ok("GET", "/payments"))["data"][0]["id"]
        path = f"/admin/v1/accounts/{b.t.account_id}/payments/{payment_id}/refunds"
        body = {"amount_micros": 5_000_000, "idempotency_key": "r"}
        for _ in range(2):
            status, _answer = await gw.admin("POST", path, body)
            assert status in (200, 201)
        await first_mail(box, b.t.account_id)
        await asyncio.sleep(1.0)
        [mail] = [m for m in box.about(b.t.account_id) if "refunded" in m["Subject"]]
        text = mail.get_body(("plain",))
        assert text is not None
        assert f"$5.00 of your $15.00 payment {payment_id} was refunded" in text.get_content()


async def test_a_top_up_receipt_is_mailed_once_with_its_lines(dsn: str) -> None:
    """A receipt was a page to find: nobody was sent one. The payer gets it by mail, once:
    its number, what was paid for, the card and the link to the page."""
    port = free_port()
    here = {"LISTEN_ADDR": f"127.0.0.1:{port}", "PUBLIC_URL": f"http://127.0.0.1:{port}"}
    async with mailing_gateway(dsn, **here) as (gw, box):
        b = await biller(gw)
        await b.topup(15_000_000)
        payment_id = (await b.ok("GET", "/payments"))["data"][0]["id"]
        await first_mail(box, b.t.account_id)
        await asyncio.sleep(1.0)
        [mail] = [m for m in box.about(b.t.account_id) if "Receipt" in m["Subject"]]
        assert re.search(r"Receipt R-\d{4,} for your \$15\.00 payment", mail["Subject"])
        text = mail.get_body(("plain",))
        assert text is not None
        said = text.get_content()
        assert "Balance top-up $15.00" in said and "Paid with Visa •••• 4242" in said, said
        assert f"{here['PUBLIC_URL']}/dashboard/billing/receipts/{payment_id}" in said
