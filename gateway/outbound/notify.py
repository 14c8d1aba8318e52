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
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any, Protocol

import aiohttp

from gateway.outbound import smtp

TIMEOUT = aiohttp.ClientTimeout(total=10)


class Sender(Protocol):
    name: str  # remembered per outbox row once this sender delivered it

    async def send(self, delivery: Mapping[str, Any]) -> str | None:
        """Deliver one outbox row; the error, or None when delivered."""
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
        body = json.dumps(envelope(delivery), separators=(",", ":")).encode()
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "Meterway-Delivery": delivery["delivery_id"],
            "Meterway-Event": delivery["event"],
            "Meterway-Timestamp": ts,
            "Meterway-Signature": sign(self.secret, ts, body),
        }
        try:
            async with self.session.post(
                self.url, data=body, headers=headers, timeout=TIMEOUT
            ) as r:
                return None if 200 <= r.status < 300 else f"webhook answered {r.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"{type(exc).__name__}: {exc}"


class SmtpSender:
    """Plain SMTP (smtp://host:port) in a thread: the loop never waits on a mail server."""

    name = "smtp"

    def __init__(self, url: str, sender: str, to: str) -> None:
        self.host, self.port = smtp.address(url)
        self.sender, self.to = sender, to

    async def send(self, delivery: Mapping[str, Any]) -> str | None:
        message = EmailMessage()
        message["From"], message["To"] = self.sender, self.to
        message["Subject"] = f"[meterway] {delivery['event']} for {delivery['account_id']}"
        message["Message-ID"] = f"<{delivery['delivery_id']}@meterway>"
        message.set_content(json.dumps(envelope(delivery), indent=2))
        try:
            await asyncio.to_thread(self._send, message)
        except (OSError, smtplib.SMTPException) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def _send(self, message: EmailMessage) -> None:
        """A connection lost before the server's answer to DATA is a failure and is retried;
        the Message-ID (the delivery id) stays the same, so a mail store can drop the copy."""
        smtp.deliver(self.host, self.port, message)
