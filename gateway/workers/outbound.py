"""The background jobs that talk to the outside: usage exporters and the notifier.

Each is a periodic job for the supervisor; which ones run depends on the settings alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import aiohttp

from gateway.config.settings import Settings
from gateway.outbound.exports import LagoSink, StripeMeterSink, UsageSink
from gateway.outbound.notify import (
    Contacts,
    PersonalEmail,
    PersonalWebhook,
    Sender,
    SmtpSender,
    WebhookSender,
)
from gateway.stores.ports import AccountAlertsPort, ExportLedgerPort, HotStorePort, NotifyLedgerPort
from gateway.workers.exporter import export_all
from gateway.workers.notifier import RunwayOf, deliver_once, evaluate_once
from gateway.workers.supervisor import Job, every


def export_sinks(settings: Settings, session: aiohttp.ClientSession) -> Iterator[UsageSink]:
    o = settings.outbound
    if o.stripe_export:
        yield StripeMeterSink(
            session, o.stripe_api_key, o.stripe_meter_event_name, o.stripe_api_base
        )
    if o.lago_export:
        yield LagoSink(session, o.lago_api_url, o.lago_api_key, o.lago_metric_code)


def export_jobs(
    settings: Settings,
    ledger: ExportLedgerPort,
    session: aiohttp.ClientSession,
    stop: asyncio.Event,
) -> Iterator[tuple[str, Job]]:
    for sink in export_sinks(settings, session):

        async def job(sink: UsageSink = sink) -> None:
            await export_all(ledger, sink)

        name = f"export-{sink.target}"
        yield name, every(settings.outbound.export_interval_s, job, stop, name)


def senders(
    settings: Settings, session: aiohttp.ClientSession, contacts: Contacts | None = None
) -> list[Sender]:
    """The operator's targets; e-mail goes to NOTIFY_EMAIL_TO, else to the account's owner
    and billing members (`contacts`)."""
    o = settings.outbound
    out: list[Sender] = []
    if o.notify_webhook_url:
        out.append(WebhookSender(session, o.notify_webhook_url, o.notify_webhook_secret))
    if o.smtp_url:
        out.append(SmtpSender(o.smtp_url, o.notify_email_from, o.notify_email_to, contacts))
    return out


def personal_senders(
    settings: Settings, alerts: AccountAlertsPort, session: aiohttp.ClientSession
) -> list[Sender]:
    """People's own alerts: to their webhook always, to their address when SMTP is set."""
    o = settings.outbound
    out: list[Sender] = [PersonalWebhook(alerts, session)]
    if o.smtp_url:
        out.append(PersonalEmail(alerts, SmtpSender(o.smtp_url, o.notify_email_from, "")))
    return out


def notify_jobs(
    settings: Settings,
    store: HotStorePort,
    ledger: NotifyLedgerPort,
    alerts: AccountAlertsPort,
    session: aiohttp.ClientSession,
    stop: asyncio.Event,
    contacts: Contacts | None = None,
    runway: RunwayOf | None = None,
) -> Iterator[tuple[str, Job]]:
    """The notifier: the operator's alerts when a webhook URL or an SMTP server is
    configured for them, and always the alerts people set on their own accounts."""
    operator = settings.outbound.notify
    send_to = senders(settings, session, contacts)
    personal = personal_senders(settings, alerts, session)

    async def job() -> None:
        low = settings.outbound.balance_low_micros
        days = settings.outbound.runway_days
        await evaluate_once(
            store, ledger, low, alerts, operator=operator, runway=runway, runway_days=days
        )
        await deliver_once(ledger, send_to, personal=personal)

    yield "notifier", every(settings.outbound.notify_interval_s, job, stop, "notifier")
