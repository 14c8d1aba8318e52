"""Plain SMTP delivery, shared by notifications and sign-in links."""

from __future__ import annotations

import contextlib
import smtplib
from email.message import EmailMessage
from urllib.parse import urlsplit


def address(url: str) -> tuple[str, int]:
    """(host, port) of an smtp://host:port URL."""
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 25


def deliver(host: str, port: int, message: EmailMessage) -> None:
    """Delivered once the server accepted the message (250 after DATA): a failure to say
    goodbye afterwards (a 421 or a reset on QUIT) is not a failure to deliver."""
    smtp = smtplib.SMTP(host, port, timeout=10)
    try:
        smtp.send_message(message)
    finally:
        with contextlib.suppress(OSError, smtplib.SMTPException):
            smtp.quit()
        smtp.close()
