"""Senders of settled usage to Stripe Billing meter events and to Lago, over their real
wire formats. A receiver that already holds an identifier (a resend after a crash) counts as
delivered: it proves the usage is there, once. The session is egress.py's, and a redirect is
a failed send, never followed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Protocol

import aiohttp

from billing.usage.exports import ExportRow, Outcome, identifier, lago_event, stripe_meter_event
from gateway.scrubbing import kept

STRIPE_CONCURRENCY = 8
LAGO_BATCH = 100  # Lago's limit per /events/batch call
TIMEOUT = aiohttp.ClientTimeout(total=30)


class UsageSink(Protocol):
    target: str

    async def send(self, rows: Sequence[ExportRow]) -> list[Outcome]:
        """Send each row once; never raises for a row, reports it as not delivered."""
        ...


def _short(text: str, secrets: Sequence[str]) -> str:
    """A sink's answer as the export keeps it: scrubbed of the key it was sent, then cut."""
    return kept(text, secrets, 300)


class StripeMeterSink:
    target = "stripe"

    def __init__(
        self, session: aiohttp.ClientSession, api_key: str, event_name: str, base_url: str
    ) -> None:
        self.session = session
        self.event_name = event_name
        self.url = base_url.rstrip("/") + "/v1/billing/meter_events"
        self.headers = {"Authorization": f"Bearer {api_key}"}
        self.secrets = (api_key,)
        self._gate = asyncio.Semaphore(STRIPE_CONCURRENCY)

    async def send(self, rows: Sequence[ExportRow]) -> list[Outcome]:
        return list(await asyncio.gather(*(self._one(r) for r in rows)))

    async def _one(self, row: ExportRow) -> Outcome:
        form = stripe_meter_event(row, self.event_name)
        headers = {**self.headers, "Idempotency-Key": identifier(row)}
        try:
            async with (
                self._gate,
                self.session.post(
                    self.url, data=form, headers=headers, timeout=TIMEOUT, allow_redirects=False
                ) as r,
            ):
                text = await r.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Outcome(
                row.entry_id, False, _short(f"{type(exc).__name__}: {exc}", self.secrets)
            )
        if r.status < 300 or (r.status == 400 and _stripe_duplicate(text)):
            return Outcome(row.entry_id, True)
        return Outcome(row.entry_id, False, _short(f"{r.status} {text}", self.secrets))


def _stripe_duplicate(text: str) -> bool:
    """Stripe answers a repeated identifier with 400 'An event already exists with identifier'."""
    try:
        error = json.loads(text).get("error", {})
    except ValueError:
        return False
    return "already exists with identifier" in str(error.get("message", ""))


class LagoSink:
    target = "lago"

    def __init__(
        self, session: aiohttp.ClientSession, api_url: str, api_key: str, code: str
    ) -> None:
        self.session = session
        self.code = code
        self.url = api_url.rstrip("/") + "/api/v1/events/batch"
        self.single_url = api_url.rstrip("/") + "/api/v1/events"
        self.headers = {"Authorization": f"Bearer {api_key}"}
        self.secrets = (api_key,)

    async def send(self, rows: Sequence[ExportRow]) -> list[Outcome]:
        out: list[Outcome] = []
        for start in range(0, len(rows), LAGO_BATCH):
            out += await self._batch(rows[start : start + LAGO_BATCH])
        return out

    async def _batch(self, rows: Sequence[ExportRow]) -> list[Outcome]:
        body = {"events": [lago_event(r, self.code) for r in rows]}
        status, text = await self._post(self.url, body)
        if status == 422 and _lago_duplicate(text) and len(rows) > 1:
            # A Lago that refuses a batch over one known event: send each on its own.
            return [o for row in rows for o in await self._batch([row])]
        ok = 200 <= status < 300 or (status == 422 and _lago_duplicate(text))
        error = None if ok else _short(f"{status} {text}", self.secrets)
        return [Outcome(row.entry_id, ok, error) for row in rows]

    async def _post(self, url: str, body: object) -> tuple[int, str]:
        try:
            async with self.session.post(
                url, json=body, headers=self.headers, timeout=TIMEOUT, allow_redirects=False
            ) as r:
                return r.status, await r.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            return 0, f"{type(exc).__name__}: {exc}"


def _lago_duplicate(text: str) -> bool:
    return "value_already_exist" in text
