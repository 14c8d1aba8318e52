"""scim2-tester, the SCIM 2.0 compliance checker, against a real gateway's /scim/v2: it
reads the discovery documents, then creates, reads, searches, replaces, patches and
deletes Users and Groups as the schemas describe them, and reports each check. None may
fail. The checker's client is synchronous, so it runs in a thread beside the gateway."""

from __future__ import annotations

import asyncio

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

from tests.support.factories import tenant
from tests.support.harness import running_gateway
from tests.support.scim import mint_token

FAILED = {Status.ERROR, Status.CRITICAL}


def _checked(url: str, token: str) -> list[str]:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx2.Client(base_url=url + "/scim/v2", headers=headers, timeout=30) as http:
        results = check_server(SyncSCIMClient(http))
    assert len(results) > 50, [r.title for r in results]
    return [f"{r.title} [{r.resource_type}]: {r.reason}" for r in results if r.status in FAILED]


async def test_scim2_tester_reports_no_failure(dsn: str) -> None:
    async with running_gateway(dsn) as gw:
        token = await mint_token(gw, (await tenant(gw)).account_id)
        failures = await asyncio.to_thread(_checked, gw.url, token)
    assert not failures, "\n".join(failures)
