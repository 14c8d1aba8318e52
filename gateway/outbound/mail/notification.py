"""A notification as an e-mail a person reads: a subject and a sentence (text and HTML),
with the delivery's JSON attached for programs; the Message-ID is the delivery id, so a
retried delivery is recognisably the same message."""

from __future__ import annotations

import json
from collections.abc import Mapping
from email.message import EmailMessage
from html import escape
from typing import Any

from billing.trust.alert_words import describe


def notification_mail(
    envelope: Mapping[str, Any], sender: str, to: str, link: str = ""
) -> EmailMessage:
    """`envelope` as the webhook sends it; `link` a page to act on, when there is one."""
    title, sentence = describe(str(envelope["type"]), envelope["data"])
    account = str(envelope["account_id"])
    message = EmailMessage()
    message["From"], message["To"] = sender, to
    message["Subject"] = f"[meterway] {title} ({account})"
    message["Message-ID"] = f"<{envelope['id']}@meterway>"
    more = f"\n\nOpen {link}" if link else ""
    message.set_content(f"{title}\n\n{sentence}\n\nAccount: {account}{more}\n")
    anchor = f'<p><a href="{escape(link)}">Open your account</a></p>' if link else ""
    message.add_alternative(
        f"<html><body><h1>{escape(title)}</h1><p>{escape(sentence)}</p>"
        f"<p>Account: {escape(account)}</p>{anchor}</body></html>",
        subtype="html",
    )
    message.add_attachment(
        json.dumps(dict(envelope), indent=2).encode(),
        maintype="application",
        subtype="json",
        filename="notification.json",
    )
    return message
