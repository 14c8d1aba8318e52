"""The e-mail that carries a sign-in link: plain text and HTML, sent over plain SMTP in a
thread so the loop never waits on a mail server."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from email.message import EmailMessage
from html import escape

from gateway.outbound.mail import smtp

LINK_MINUTES = 15


def link_message(sender: str, to: str, links: Sequence[tuple[str, str]]) -> EmailMessage:
    """One link per account the address may sign in to: (account name, URL)."""
    message = EmailMessage()
    message["From"], message["To"] = sender, to
    message["Subject"] = "Your Meterway sign-in link"
    lines = [f"  {name}: {url}" for name, url in links]
    message.set_content(
        "Open the link to sign in to the dashboard:\n\n"
        + "\n".join(lines)
        + f"\n\nIt works once, within {LINK_MINUTES} minutes. If you did not ask for it, "
        "ignore this e-mail.\n"
    )
    items = "".join(
        f'<li><a href="{escape(url)}">Sign in to {escape(name)}</a></li>' for name, url in links
    )
    message.add_alternative(
        f"<p>Open the link to sign in to the dashboard:</p><ul>{items}</ul>"
        f"<p>It works once, within {LINK_MINUTES} minutes. If you did not ask for it, "
        "ignore this e-mail.</p>",
        subtype="html",
    )
    return message


async def send(smtp_url: str, message: EmailMessage) -> None:
    host, port = smtp.address(smtp_url)
    await asyncio.to_thread(smtp.deliver, host, port, message)
