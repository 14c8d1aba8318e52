"""Delivering notifications: signed webhooks and, optionally, e-mail over SMTP.

A webhook carries its delivery id, event and timestamp in headers and is signed with
HMAC-SHA256 over "<timestamp>.<body>", so a receiver can check it came from this gateway
and is fresh, and drop a retry it has already seen by its delivery id.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import smtplib
import time
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from typing import Any, Protocol

import aiohttp

from billing import audience
from billing.roles import MONEY_CONTACTS
from gateway.outbound.mail import smtp
from gateway.outbound.mail.notification import notification_mail

TIMEOUT = aiohttp.ClientTimeout(total=10)
# Events about the operator's own money (what a customer's debit left uncollected): never
# mailed to the account's members in place of the operator's address.
OPERATOR_ONLY = frozenset(
    {"debit.uncollected", "provider.reconciliation", "price.drift", "signup.trial_withheld"}
)


class Undeliverable(Exception):
    """A delivery no retry can make (nobody to send it to): recorded once, never retried."""


class Sender(Protocol):
    name: str  # remembered per outbox row once this sender delivered it

    async def send(self, delivery: Mapping[str, Any]) -> str | None:
        """Deliver one outbox row; the error, or None when delivered. Raises Undeliverable
        when there is nobody to deliver it to."""
        ...


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def envelope(delivery: Mapping[str, Any]) -> dict[str, Any]:
    payload = delivery["payload"]
    return {
        "id": delivery["delivery_id"],
        "type": delivery["event"],
        "account_id": delivery["account_id"],
        "created": int(delivery["created_at"].timestamp()),
        "data": json.loads(payload) if isinstance(payload, str) else payload,
    }


class WebhookSender:
    name = "webhook"

    def __init__(self, session: aiohttp.ClientSession, url: str, secret: str) -> None:
        self.session = session
        self.url = url
        self.secret = secret

    async def send(self, delivery: Mapping[str, Any]) -> str | None:
        return await post_signed(self.session, self.url, self.secret, delivery)


async def post_signed(
    session: aiohttp.ClientSession, url: str, secret: str, delivery: Mapping[str, Any]
) -> str | None:
    """POST one delivery, signed; the error, or None when the receiver took it (2xx). A
    redirect is not followed (a failed delivery); `session` is egress.py's, so no address
    off the public internet is reached unless the operator admitted it."""
    body = json.dumps(envelope(delivery), separators=(",", ":")).encode()
    ts = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "Meterway-Delivery": delivery["delivery_id"],
        "Meterway-Event": delivery["event"],
        "Meterway-Timestamp": ts,
        "Meterway-Signature": sign(secret, ts, body),
    }
    try:
        async with session.post(
            url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False
        ) as r:
            return None if 200 <= r.status < 300 else f"webhook answered {r.status}"
    except (aiohttp.ClientError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}"


class Contacts(Protocol):
    """Who to write to about an account (stores.ports.MembersPort has it)."""

    async def contacts(self, account_id: str, roles: Sequence[str]) -> list[str]: ...


class SmtpSender:
    """Plain SMTP (smtp://host:port) in a thread: the loop never waits on a mail server.
    The operator's address (`to`) when set, else the account's owner and billing members
    (`contacts`); nobody at all is Undeliverable."""

    name = "smtp"

    def __init__(self, url: str, sender: str, to: str, contacts: Contacts | None = None) -> None:
        self.host, self.port = smtp.address(url)
        self.sender, self.to, self.contacts = sender, to, contacts

    async def send(self, delivery: Mapping[str, Any]) -> str | None:
        if self.to:
            return await self.mail(delivery, self.to)
        members = await self._members(delivery)  # the account's people: a customer surface
        return await self.mail(audience.for_customer(dict(delivery)), members)

    async def _members(self, delivery: Mapping[str, Any]) -> str:
        account = str(delivery["account_id"])
        if delivery["event"] in OPERATOR_ONLY:
            raise Undeliverable(f"{delivery['event']} is the operator's; NOTIFY_EMAIL_TO is unset")
        found = await self.contacts.contacts(account, MONEY_CONTACTS) if self.contacts else []
        if not found:
            raise Undeliverable(
                f"no recipient: NOTIFY_EMAIL_TO is unset and {account} has no owner or"
                " billing member who accepted"
            )
        return ", ".join(found)

    async def mail(self, delivery: Mapping[str, Any], to: str) -> str | None:
        message = notification_mail(envelope(delivery), self.sender, to)
        try:
            await asyncio.to_thread(self._send, message)
        except (OSError, smtplib.SMTPException) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def _send(self, message: EmailMessage) -> None:
        """A connection lost before the server's answer to DATA is a failure and is retried;
        the Message-ID (the delivery id) stays the same, so a mail store can drop the copy."""
        smtp.deliver(self.host, self.port, message)


class Targets(Protocol):
    """Where a person's alert is delivered (stores.ports.AccountAlertsPort has it)."""

    async def target(self, alert_id: str) -> Mapping[str, Any] | None: ...


class PersonalEmail:
    """A person's own alert, e-mailed to the address they gave (needs SMTP_URL)."""

    name = "email"

    def __init__(self, alerts: Targets, mailer: SmtpSender) -> None:
        self.alerts, self.mailer = alerts, mailer

    async def send(self, delivery: Mapping[str, Any]) -> str | None:
        target = await self.alerts.target(str(delivery["alert_id"]))
        if target is None or not target["email"]:
            return None  # deleted since, or no address: nothing to deliver
        return await self.mailer.mail(audience.for_customer(dict(delivery)), target["email"])


class PersonalWebhook:
    """A person's own alert, POSTed to their webhook, signed with the alert's secret."""

    name = "webhook"

    def __init__(self, alerts: Targets, session: aiohttp.ClientSession) -> None:
        self.alerts, self.session = alerts, session

    async def send(self, delivery: Mapping[str, Any]) -> str | None:
        target = await self.alerts.target(str(delivery["alert_id"]))
        if target is None or not target["webhook_url"]:
            return None
        url, secret = target["webhook_url"], target["webhook_secret"]
        return await post_signed(self.session, url, secret, audience.for_customer(dict(delivery)))
