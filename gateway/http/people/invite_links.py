"""An invitation's accept link: made when the person is invited, handed to the inviter in
the answer (to pass on), and e-mailed to the person when SMTP is configured. Only the
link's SHA-256 is kept; the person accepts (or declines) on the page it opens."""

from __future__ import annotations

import secrets
from urllib.parse import quote

from aiohttp import web
from aiohttp.helpers import ChainMapProxy

from gateway.http.appkeys import COURIER, LEDGER, SETTINGS
from gateway.http.links import BASE, digest
from gateway.http.return_to import absolute
from gateway.outbound.mail import signin as signin_mail
from gateway.outbound.mail.invitation import invitation_message
from gateway.services.members.identity import ACCEPT_LINK_DAYS
from gateway.stores.records import Row


def new_secret() -> tuple[str, str]:
    """An accept link's secret and the digest the member row keeps."""
    secret = secrets.token_urlsafe(32)
    return secret, digest(secret)


def accept_url(request: web.Request, secret: str) -> str:
    return absolute(request, f"{BASE}/signin/invitation/{quote(secret)}")


def mail_invitation(request: web.Request, row: Row, url: str) -> None:
    """E-mail the link in the background when SMTP_URL and NOTIFY_EMAIL_FROM are set."""
    signin = request.config_dict[SETTINGS].signin
    if signin.smtp_url and signin.email_from:
        request.config_dict[COURIER].post("invitation", _send(request.config_dict, row, url))


async def _send(app: ChainMapProxy, row: Row, url: str) -> None:
    account = await app[LEDGER].get_account(row["account_id"])
    name = str(account["name"]) if account else str(row["account_id"])
    signin = app[SETTINGS].signin
    message = invitation_message(
        signin.email_from, row["email"], name, row["role"], url, ACCEPT_LINK_DAYS
    )
    await signin_mail.send(signin.smtp_url, message)
