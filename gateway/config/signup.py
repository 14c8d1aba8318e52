"""Who may sign up, and how often: SIGNUP_POLICY and its limits, read once at start-up
with the other settings (gateway/config/settings.py holds them as `settings.signup`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from billing.members.signup import POLICIES, Policy
from gateway.config import values as v
from gateway.config.values import ConfigError


@dataclass(frozen=True)
class SignupSettings:
    policy: Policy = "closed"  # closed: only invitations; approval: an operator decides; open
    blocked_domains: tuple[str, ...] = ()  # e-mail domains (and their subdomains) refused
    limit_client: int = 10  # sign-ups asked for from one client address per window (0: none)
    limit_domain: int = 50  # sign-ups asked for at one e-mail domain per window (0: none)
    limit_window_s: int = 3600
    code_ttl_s: int = 900  # how long a verification link and code work
    token_ttl_s: int = 30 * 86400  # a `meterway login` token's life
    # The trial's checks (billing/trust/trial_checks.py), each off until the operator turns it on
    trial_disposable: bool = False  # no trial for a disposable e-mail domain
    trial_limit_network: int = 0  # trials per client network (/24, /48) per day (0: off)
    trial_limit_device: int = 0  # trials per device fingerprint per day (0: off)
    trial_card: bool = False  # the trial waits for a card no other trial was funded by

    @property
    def open(self) -> bool:
        """People may sign themselves up (open, or approval)."""
        return self.policy != "closed"


def signup_settings(
    get: Callable[..., object], public_url: str, smtp_url: str, sender: str
) -> SignupSettings:
    policy = v.one_of("SIGNUP_POLICY", get, "closed", POLICIES)
    if policy != "closed" and not (public_url and smtp_url and sender):
        raise ConfigError("SIGNUP_POLICY needs SMTP_URL, NOTIFY_EMAIL_FROM and PUBLIC_URL")
    raw = str(get("SIGNUP_BLOCKED_DOMAINS", "") or "")
    domains = tuple(d.strip().lower().lstrip("@") for d in raw.split(",") if d.strip())
    return SignupSettings(
        policy=policy,  # type: ignore[arg-type]
        blocked_domains=domains,
        limit_client=v.whole("SIGNUP_LIMIT_CLIENT", get("SIGNUP_LIMIT_CLIENT", 10), 0),
        limit_domain=v.whole("SIGNUP_LIMIT_DOMAIN", get("SIGNUP_LIMIT_DOMAIN", 50), 0),
        limit_window_s=v.whole("SIGNUP_LIMIT_WINDOW_S", get("SIGNUP_LIMIT_WINDOW_S", 3600), 1),
        code_ttl_s=v.whole("SIGNUP_CODE_TTL_S", get("SIGNUP_CODE_TTL_S", 900), 60),
        token_ttl_s=v.whole("CLI_TOKEN_TTL_S", get("CLI_TOKEN_TTL_S", 30 * 86400), 60),
        trial_disposable=v.flag(get("SIGNUP_TRIAL_DISPOSABLE", "0")),
        trial_limit_network=_daily(get, "SIGNUP_TRIAL_LIMIT_NETWORK"),
        trial_limit_device=_daily(get, "SIGNUP_TRIAL_LIMIT_DEVICE"),
        trial_card=v.flag(get("SIGNUP_TRIAL_CARD", "0")),
    )


def _daily(get: Callable[..., object], name: str) -> int:
    return v.whole(name, get(name, 0), 0)


def check_trial_card(signup: SignupSettings, provider: str) -> None:
    """A card check reads the card's fingerprint from Stripe: no other provider has one."""
    if signup.trial_card and provider != "stripe":
        raise ConfigError("SIGNUP_TRIAL_CARD needs PAYMENTS_PROVIDER=stripe")
