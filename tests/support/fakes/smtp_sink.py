"""A local mail server speaking real SMTP (aiosmtpd), for the notification and sign-in
e-mail tests.

It can take its time over each message (`delay_s`, a slow mail server), refuse the next
messages with a temporary error (451 after DATA: nothing stored, the sender must retry), or
answer QUIT with a 421 after having accepted a message (stored: a sender that counts that as
a failure would send it twice).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.harness import free_port


@dataclass
class Mailbox:
    url: str = ""
    messages: list[EmailMessage] = field(default_factory=list)
    attempts: int = 0  # DATA commands, refused ones included
    refuse_next: int = 0
    fail_quit_next: int = 0
    delay_s: float = 0.0

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    def about(self, account_id: str) -> list[EmailMessage]:
        return [m for m in self.messages if account_id in str(m["Subject"])]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.attempts += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.refuse_next:
            self.refuse_next -= 1
            return "451 4.3.0 Mailbox busy, try again later"
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        parsed["X-Envelope"] = f"{envelope.mail_from} -> {','.join(envelope.rcpt_tos)}"
        self.messages.append(parsed)
        return "250 2.0.0 OK queued"

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        if self.fail_quit_next:
            self.fail_quit_next -= 1
            return "421 4.4.2 Connection dropped"
        return "221 Bye"


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    """The server runs in aiosmtpd's own thread and loop, like a mail server elsewhere."""
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    box.url = f"smtp://127.0.0.1:{port}"
    try:
        yield box
    finally:
        controller.stop()
