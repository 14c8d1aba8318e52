"""Reconciliation against the provider (docs/guides/reconciliation.md): the admin credential
that reads each upstream's own usage and cost reports, which api key of the organization is
Meterway's, and the schedule. Read once at start-up; `settings.reconcile`. Off for an
upstream whose admin key is unset, and so off by default.

RECONCILE_OPENAI_ADMIN_KEY is an OpenAI Admin API key (it reads the organization's Usage and
Costs APIs), RECONCILE_ANTHROPIC_ADMIN_KEY an Anthropic Admin API key (`sk-ant-admin...`).
RECONCILE_*_KEY_ID names the provider's id of the api key Meterway forwards with (OpenAI's
`key_...`, Anthropic's `apikey_...`); unset, the whole organization's usage is compared,
which is right only for an organization that holds Meterway's key alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.config import values as v

Get = Callable[..., object]
UPSTREAMS = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com"}


@dataclass(frozen=True)
class UpstreamReports:
    upstream: str  # "openai" or "anthropic": whose report formats
    admin_key: str = field(repr=False)
    base_url: str
    key_id: str  # the provider's id of Meterway's key; "" for the whole organization
    credential: str  # the Meterway provider whose ledger rows are compared

    def __repr__(self) -> str:
        return (
            f"UpstreamReports({self.upstream!r}, admin_key=***, {self.base_url!r},"
            f" key_id={self.key_id!r}, credential={self.credential!r})"
        )


@dataclass(frozen=True)
class ReconcileSettings:
    upstreams: tuple[UpstreamReports, ...] = ()
    every_s: float = 3600.0  # between rounds
    days: int = 3  # each round checks this many whole UTC days before today
    alert_micros: int = 1_000_000  # a difference this large either way is notified

    @property
    def enabled(self) -> bool:
        return bool(self.upstreams)


def _upstream(get: Get, upstream: str, default_url: str) -> UpstreamReports | None:
    """Every setting is read (the settings reference lists what is read), then used only
    with an admin key."""
    prefix = f"RECONCILE_{upstream.upper()}"
    key = str(get(f"{prefix}_ADMIN_KEY", "") or "").strip()
    base = str(get(f"{prefix}_BASE_URL", default_url) or default_url).rstrip("/")
    key_id = str(get(f"{prefix}_KEY_ID", "") or "").strip()
    credential = str(get(f"{prefix}_PROVIDER", upstream) or upstream).strip()
    if not key:
        return None
    return UpstreamReports(
        upstream=upstream,
        admin_key=key,
        base_url=v.url(f"{prefix}_BASE_URL", base, ("https", "http")),
        key_id=key_id,
        credential=credential,
    )


def reconcile_settings(get: Get) -> ReconcileSettings:
    found = (_upstream(get, name, url) for name, url in UPSTREAMS.items())
    return ReconcileSettings(
        upstreams=tuple(u for u in found if u is not None),
        every_s=v.number("RECONCILE_EVERY_S", get("RECONCILE_EVERY_S", 3600), 60),
        days=v.whole("RECONCILE_DAYS", get("RECONCILE_DAYS", 3), 1),
        alert_micros=v.micros(
            "RECONCILE_ALERT_MICROS", get("RECONCILE_ALERT_MICROS", 1_000_000), 0
        ),
    )
