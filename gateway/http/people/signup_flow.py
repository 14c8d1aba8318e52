"""Sign-up's steps as the API and the dashboard both take them: ask (an address, checked
and rate limited, answered at once; the mail goes after the answer), verify (a link or a
one-time code opens the organization), and the trial, each written to the audit log.

The answer to `ask` is the same, and as fast, whether the address is new, signed up before,
or at a domain nobody uses: only a malformed or blocked address (what anyone can see in
the request) and the rate limits (counted alike for every address) refuse. The limits are
the sign-in form's mechanism (`SIGNIN_TICKETS.count`), per client address, per e-mail
domain, and per address (SIGNIN_LINK_LIMIT_ADDRESS, an inbox's protection).

Opening an account runs the trial's checks (services/trust/trial_gate.py) on what the verifying
request came from: its client's network and its device fingerprint, the sign-up form's
`mw_device` cookie (a random token the page sets for a year) or, from programs, the
`Meterway-Device` header.
"""

from __future__ import annotations

import hashlib
import secrets
from urllib.parse import quote

from aiohttp import web
from aiohttp.helpers import ChainMapProxy

from billing.members.signup import Address, AddressError, address, blocked
from billing.trust.trial_checks import device_of, network_of
from gateway.errors import (
    DomainClaimed,
    InvalidRequest,
    NotFound,
    SignupRateLimited,
    TrialWithheld,
    VerificationFailed,
)
from gateway.http import audited
from gateway.http.appkeys import (
    COURIER,
    DOMAIN_CLAIMS,
    LEDGER,
    MEMBERS,
    NOTIFY,
    PLANS,
    SETTINGS,
    SIGNIN_TICKETS,
    SIGNUPS,
    STORE,
)
from gateway.http.client_address import client_address
from gateway.http.links import BASE, digest
from gateway.outbound.mail import signin as signin_mail
from gateway.outbound.mail import signup as signup_mail
from gateway.services.audit import Actor
from gateway.services.members import domain_claims
from gateway.services.members.identity import Person
from gateway.services.members.signup import Desk, Opened, grant_trial, open_account
from gateway.services.trust import trial_gate

VERIFY_PATH = f"{BASE}/signup/verify"
DEVICE_COOKIE, DEVICE_HEADER = "mw_device", "Meterway-Device"
CODE_TRIES = 5  # wrong codes per address per code lifetime, then every code is refused


def desk(app: ChainMapProxy) -> Desk:
    return Desk(
        app[LEDGER], app[STORE], app[MEMBERS], app[SIGNUPS], app[PLANS], app[DOMAIN_CLAIMS],
        app[NOTIFY],
    )  # fmt: skip


def _open(request: web.Request) -> None:
    if not request.config_dict[SETTINGS].signup.open:
        raise NotFound("Sign-up is closed here: ask the operator for an invitation.")


def checked_address(request: web.Request, raw: object) -> Address:
    """The address typed, normalized; InvalidRequest for a malformed or blocked one."""
    _open(request)
    try:
        addr = address(raw if isinstance(raw, str) else "")
    except AddressError as exc:
        raise InvalidRequest(str(exc), param="email") from exc
    if blocked(addr.domain, request.config_dict[SETTINGS].signup.blocked_domains):
        raise InvalidRequest("Sign-up is not open to addresses at this domain.", param="email")
    return addr


async def ask(request: web.Request, raw: object) -> Address:
    """Check and count the address, then mail it (in the background)."""
    addr = checked_address(request, raw)
    await _within_limits(request, addr)
    request.config_dict[COURIER].post("signup", _mail(request.config_dict, addr))
    return addr


async def _within_limits(request: web.Request, addr: Address) -> None:
    app = request.config_dict
    signup, tickets = app[SETTINGS].signup, app[SIGNIN_TICKETS]
    hashed = hashlib.sha256(addr.normalized.encode()).hexdigest()
    for name, limit in (
        (f"signup-client:{client_address(request)}", signup.limit_client),
        (f"signup-domain:{addr.domain}", signup.limit_domain),
        (f"signup-address:{hashed}", app[SETTINGS].signin.link_limit_address),
    ):
        if limit:
            count, left = await tickets.count(name, signup.limit_window_s)
            if count > limit:
                raise SignupRateLimited(
                    "Too many sign-ups were asked for; try again later.",
                    retry_after_s=max(1, left),
                )


def _code_digest(addr: Address, code: str) -> str:
    return digest(f"signup-code:{addr.normalized}:{code}")


async def _mail(app: ChainMapProxy, addr: Address) -> None:
    """A link and a code to a new address; to one that signed up, where to sign in."""
    settings = app[SETTINGS]
    sender, smtp_url = settings.signin.email_from, settings.signin.smtp_url
    if await app[SIGNUPS].get(addr.normalized) is not None:
        message = signup_mail.known(sender, addr.email, f"{settings.public_url}{BASE}/signin")
        await signin_mail.send(smtp_url, message)
        return
    secret, code = secrets.token_urlsafe(32), f"{secrets.randbelow(10**6):06d}"
    ttl = settings.signup.code_ttl_s
    link, by_code = digest(secret), _code_digest(addr, code)
    data: dict[str, object] = {"email": addr.email}
    await app[SIGNIN_TICKETS].put(link, data | {"pair": by_code}, ttl)
    await app[SIGNIN_TICKETS].put(by_code, data | {"pair": link}, ttl)
    url = f"{settings.public_url}{VERIFY_PATH}/{quote(secret)}"
    message = signup_mail.verification(sender, addr.email, url, code, ttl // 60)
    await signin_mail.send(smtp_url, message)


async def _take(request: web.Request, found: str) -> Address:
    """A verification's ticket, gone with its pair (the link and the code are one)."""
    tickets = request.config_dict[SIGNIN_TICKETS]
    data = await tickets.take(found)
    if data is None:
        raise VerificationFailed("This code or link is wrong, used or expired; sign up again.")
    await tickets.take(str(data["pair"]))
    return address(str(data["email"]))


async def verify_code(request: web.Request, raw_email: object, code: object) -> Opened:
    addr = checked_address(request, raw_email)
    code = code.strip() if isinstance(code, str) else ""
    settings = request.config_dict[SETTINGS].signup
    tries, _ = await request.config_dict[SIGNIN_TICKETS].count(
        f"signup-verify:{addr.normalized}", settings.code_ttl_s
    )
    if tries > CODE_TRIES or not (len(code) == 6 and code.isdigit()):
        raise VerificationFailed("This code is wrong, used or expired; sign up again.")
    return await opened(request, await _take(request, _code_digest(addr, code)))


async def verify_link(request: web.Request, secret: str) -> Opened:
    _open(request)
    return await opened(request, await _take(request, digest(secret)))


async def opened(
    request: web.Request, addr: Address, issuer: str = "", subject: str = ""
) -> Opened:
    """The verified person's organization, audited, with its trial under the open policy.
    A person of a domain another organization has proven opens none: they join that one."""
    holder = await domain_claims.holder_of(request.config_dict[DOMAIN_CLAIMS], addr.email)
    if holder is not None:
        raise DomainClaimed(domain_claims.taken(str(holder["domain"])), param="email")
    policy = request.config_dict[SETTINGS].signup.policy
    done = await open_account(desk(request.config_dict), addr, policy, issuer, subject)
    if done.created:
        request[audited.ACTOR] = Actor("member", str(done.member["id"]), "sign-up")
        after = {"email": addr.email, "status": done.status, "via": "oidc" if subject else "e-mail"}
        await audited.record(
            request, "signup.verify", "account", done.account_id, done.account_id, None, after
        )
        app = request.config_dict
        await trial_gate.check(
            desk(app), app[SETTINGS].signup, done.account_id, addr, signals(request),
            app[SIGNIN_TICKETS].count,
        )  # fmt: skip
        if done.status == "active":
            await trial(request, done.account_id)
    return done


def signals(request: web.Request) -> trial_gate.Signals:
    """The network and the device a request came from, as the trial's checks count them."""
    raw = request.cookies.get(DEVICE_COOKIE) or request.headers.get(DEVICE_HEADER) or ""
    return trial_gate.Signals(network_of(client_address(request)), device_of(raw[:200]))


async def trial_answer(request: web.Request, account_id: str) -> dict[str, object] | None:
    """The trial as the person is told of it: given, or not with one message whichever
    check held it (or whether its checks ran); None while the account waits for approval
    (its trial is decided then) or when its plan gives none."""
    row = await request.config_dict[SIGNUPS].of_account(account_id)
    if row is None or row["status"] != "active":
        return None
    if row["trial_at"] is not None:
        return {"given": True}
    if row["trial_hold"] == "none":
        return None  # its plan gives no trial
    card = request.config_dict[SETTINGS].signup.trial_card
    withheld = TrialWithheld(TrialWithheld.CARD if card else TrialWithheld.NO_CARD)
    return {"given": False, **withheld.openai_body()}


async def trial(request: web.Request, account_id: str) -> None:
    posted = await grant_trial(desk(request.config_dict), account_id)
    if posted is not None:
        after = {"amount_micros": posted.amount_micros, "entry_id": posted.entry_id}
        await audited.record(
            request, "signup.trial", "account", account_id, account_id, None, after
        )


async def person_signs_up(request: web.Request, person: Person) -> Opened | None:
    """An identity provider's user with a verified e-mail and no invitation, when sign-up
    is open: the same path as a verified address. None otherwise."""
    if not request.config_dict[SETTINGS].signup.open or not person.email:
        return None
    if await domain_claims.holder_of(request.config_dict[DOMAIN_CLAIMS], person.email):
        return None  # their domain's organization decides whether they join
    try:
        addr = checked_address(request, person.email)
    except InvalidRequest:
        return None
    return await opened(request, addr, person.issuer, person.subject)
