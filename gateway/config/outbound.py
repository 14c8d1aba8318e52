"""Where usage exports and notifications go: read once with the other settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.config.egress_rules import EgressPolicy


@dataclass(frozen=True)
class OutboundSettings:
    stripe_meter_event_name: str = ""
    stripe_api_key: str = field(default="", repr=False)
    stripe_api_base: str = "https://api.stripe.com"
    lago_api_url: str = ""
    lago_api_key: str = field(default="", repr=False)
    lago_metric_code: str = "meterway_usage"
    export_interval_s: float = 60.0
    notify_webhook_url: str = ""
    notify_webhook_secret: str = field(default="", repr=False)
    smtp_url: str = ""  # smtp://host:port
    notify_email_from: str = ""
    notify_email_to: str = ""
    notify_interval_s: float = 15.0
    balance_low_micros: int = 1_000_000
    runway_days: int = 3  # balance.runway when the credit lasts this many days or fewer; 0 off
    # Where webhooks, alerts and exports may go (EGRESS_ALLOW_HOSTS, EGRESS_ALLOW_HTTP).
    egress: EgressPolicy = field(default_factory=EgressPolicy)

    @property
    def stripe_export(self) -> bool:
        return bool(self.stripe_meter_event_name and self.stripe_api_key)

    @property
    def lago_export(self) -> bool:
        return bool(self.lago_api_url and self.lago_api_key)

    @property
    def notify(self) -> bool:
        return bool(self.notify_webhook_url or self.smtp_url)
