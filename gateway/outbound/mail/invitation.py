"""The e-mail that carries an invitation's accept link: plain text and HTML. It asks the
person; nothing binds them to the organization until they press Accept on the page."""

from __future__ import annotations

from email.message import EmailMessage
from html import escape


def invitation_message(
    sender: str, to: str, organization: str, role: str, url: str, days: int
) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"] = sender, to
    message["Subject"] = f"You are invited to {organization} on Meterway"
    message.set_content(
        f"{organization} invites you to its Meterway dashboard as {role}.\n\n"
        f"Accept or decline: {url}\n\n"
        f"The link works once, within {days} days. If you did not expect it, ignore this "
        "e-mail: nothing happens until you accept.\n"
    )
    message.add_alternative(
        f"<p>{escape(organization)} invites you to its Meterway dashboard as "
        f'{escape(role)}.</p><p><a href="{escape(url)}">Accept or decline</a></p>'
        f"<p>The link works once, within {days} days. If you did not expect it, ignore "
        "this e-mail: nothing happens until you accept.</p>",
        subtype="html",
    )
    return message
