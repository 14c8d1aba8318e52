"""A man in the middle between Meterway's reconciler and the demo upstream's organization
reports: every report is read from the fake provider (what it was really sent), then a test
may rewrite it (a lie, a failure midway, an echoed key) before the reconciler sees it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from tests.support.factories import Tenant, openai_client, tenant
from tests.support.harness import (
    Gateway,
    listening_socket,
    port_of,
    running_gateway,
    serving,
    store_cli,
)

OPENAI_ADMIN = "sk-admin-attackSECRET0123456789abcdef"
ANTHROPIC_ADMIN = "sk-ant-admin01-attackSECRET0123456789"

# (method, path with query, status, body) -> (status, body) or None to pass it through.
Rewrite = Callable[[str, str, int, bytes], "tuple[int, bytes] | None"]


@dataclass
class Reports:
    url: str = ""
    target: str = ""
    rewrite: Rewrite | None = None
    seen: list[str] = field(default_factory=list)
    delay_s: float = 0.0

    def env(self, **more: str) -> dict[str, str]:
        return {
            "RECONCILE_OPENAI_ADMIN_KEY": OPENAI_ADMIN,
            "RECONCILE_OPENAI_BASE_URL": self.url + "/v1",
            "RECONCILE_ANTHROPIC_ADMIN_KEY": ANTHROPIC_ADMIN,
            "RECONCILE_ANTHROPIC_BASE_URL": self.url,
            **more,
        }


@asynccontextmanager
async def reports_proxy() -> AsyncIterator[Reports]:
    reports = Reports()

    async def forward(request: web.Request) -> web.Response:
        reports.seen.append(request.path_qs)
        for _ in range(200):  # a gateway's first round may come before the test names its fake
            if reports.target:
                break
            await asyncio.sleep(0.05)
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() in ("authorization", "x-api-key", "anthropic-version")
        }
        async with (
            aiohttp.ClientSession() as s,
            s.request(request.method, reports.target + request.path_qs, headers=headers) as r,
        ):
            status, body = r.status, await r.read()
        if reports.delay_s:
            await asyncio.sleep(reports.delay_s)
        if reports.rewrite is not None:
            changed = reports.rewrite(request.method, request.path_qs, status, body)
            if changed is not None:
                status, body = changed
        return web.Response(status=status, body=body, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", forward)
    sock = listening_socket()
    reports.url = f"http://127.0.0.1:{port_of(sock)}"
    async with serving(app, sock):
        yield reports


@dataclass
class Scene:
    gw: Gateway
    reports: Reports
    env: dict[str, str]
    day: str
    payer: Tenant

    async def reconcile(self, *extra: str, **env: str) -> tuple[int, Any, str]:
        """`meterway reconcile providers --day DAY --json`: (exit code, parsed stdout or the
        text when it is not JSON, stdout and stderr together)."""
        rc, out, err = await store_cli(
            self.gw, "reconcile", "providers", "--day", self.day, "--json", *extra,
            **{**self.env, **env},
        )  # fmt: skip
        try:
            parsed: Any = json.loads(out)
        except ValueError:
            parsed = out
        return rc, parsed, out + err

    async def differences(self) -> Any:
        status, body = await self.gw.admin(
            "GET", f"/admin/v1/reconciliation/providers?day={self.day}"
        )
        assert status == 200, body
        return body


def today() -> str:
    return datetime.now(UTC).date().isoformat()


@asynccontextmanager
async def scene(dsn: str, calls: int = 1, **env: str) -> AsyncIterator[Scene]:
    """A gateway whose reconciler reads the reports through `reports_proxy`, and a tenant
    that made `calls` chat calls on gpt-4o-mini today, settled."""
    async with reports_proxy() as reports:
        full = reports.env(SETTLER_DISABLED="1", **env)
        async with running_gateway(dsn, None, **full) as gw:
            reports.target = gw.upstream.url
            payer = await tenant(gw)
            client = openai_client(gw, payer.key)
            for n in range(calls):
                await client.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=[{"role": "user", "content": f"count the words of sentence {n}"}],
                )
            await gw.settle_all()
            yield Scene(gw, reports, full, today(), payer)


def costs_path(path: str) -> bool:
    return path.startswith("/v1/organization/costs")


def usage_path(path: str, kind: str = "completions") -> bool:
    return path.startswith(f"/v1/organization/usage/{kind}")


def add_to_first_bucket(body: bytes, *results: dict[str, Any]) -> bytes:
    """The report with `results` added to its first bucket that has any (else its first)."""
    page = json.loads(body)
    buckets = page["data"]
    target = next((b for b in buckets if b["results"]), buckets[0])
    target["results"].extend(results)
    return json.dumps(page).encode()


def cost_line(value: str, line_item: str, api_key_id: str | None = None) -> str:
    """One OpenAI Costs API result, its amount written as `value` verbatim (a JSON number)."""
    return (
        '{"object": "organization.costs.result", "amount": {"value": ' + value
        + ', "currency": "usd"}, "line_item": ' + json.dumps(line_item)
        + ', "project_id": null, "api_key_id": ' + json.dumps(api_key_id) + "}"
    )  # fmt: skip


def with_cost_lines(body: bytes, *lines: str) -> bytes:
    """The costs page with raw result objects spliced into its first bucket, so the
    amounts keep the exact digits they were written with."""
    page = json.loads(body)
    page["data"][0]["results"] = ["@@LINES@@"]
    text = json.dumps(page)
    return text.replace('"@@LINES@@"', ", ".join(lines)).encode()
