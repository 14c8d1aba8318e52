"""The e-mails of a sign-up: the verification (a link and a one-time code), the note sent
instead to an address that signed up before (the answer to the form is the same for both),
and the operator's decision."""

from __future__ import annotations

from email.message import EmailMessage
from html import escape


def _message(sender: str, to: str, subject: str, lines: list[str]) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message.set_content("\n\n".join(lines) + "\n")
    html = "".join(f"<p>{escape(line)}</p>" for line in lines)
    message.add_alternative(html, subtype="html")
    return message


def verification(sender: str, to: str, url: str, code: str, minutes: int) -> EmailMessage:
    return _message(
        sender,
        to,
        "Verify your e-mail to open your Meterway account",
        [
            f"Open this link to verify your address: {url}",
            f"Or enter this code where you signed up: {code}",
            f"Both work once, within {minutes} minutes. If you did not sign up, ignore this"
            " e-mail: nothing is opened until you verify.",
        ],
    )


def known(sender: str, to: str, signin_url: str) -> EmailMessage:
    return _message(
        sender,
        to,
        "You already have a Meterway account",
        [
            "Someone (perhaps you) asked to sign up with this address, which has an account"
            " already. Nothing new was opened.",
            f"Sign in here: {signin_url}",
        ],
    )


def decision(sender: str, to: str, approved: bool, dashboard_url: str) -> EmailMessage:
    if approved:
        lines = [
            "Your Meterway account is approved: its API keys work from now on.",
            f"Your dashboard: {dashboard_url}",
        ]
        return _message(sender, to, "Your Meterway account is approved", lines)
    lines = [
        "The operator declined your Meterway sign-up; its API keys will not be served.",
        "Reply to this e-mail if you think this is a mistake.",
    ]
    return _message(sender, to, "Your Meterway sign-up was declined", lines)
