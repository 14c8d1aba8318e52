"""A client of /v1/metering as another service would write it, and the fake container
runner the metering tests drive it with."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tests.support.harness import Gateway


@dataclass
class Service:
    gw: Gateway
    name: str
    key: str
    service_id: str

    async def call(self, path: str, body: Any) -> tuple[int, Any]:
        headers = {"X-API-Key": self.key, "X-Service-Name": self.name}
        async with self.gw.http.post(
            self.gw.url + "/v1/metering" + path, json=body, headers=headers
        ) as r:
            return r.status, await r.json()

    async def authorize(self, **body: Any) -> tuple[int, Any]:
        body.setdefault("idempotency_key", secrets.token_hex(8))
        return await self.call("/authorizations", body)

    async def events(self, events: list[dict[str, Any]]) -> tuple[int, Any]:
        return await self.call("/events", {"events": events})


async def service(gw: Gateway, *meters: str) -> Service:
    name = f"svc-{secrets.token_hex(4)}"
    status, body = await gw.admin(
        "POST", "/admin/v1/services", {"name": name, "meters": list(meters)}
    )
    assert status == 201, body
    return Service(gw, name, body["key"], body["id"])


def event(account_id: str, meter: str, quantity: int, key: str) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    return {
        "account_id": account_id,
        "meter": meter,
        "quantity": quantity,
        "idempotency_key": key,
        "occurred_at": now,
    }


class ContainerRunner:
    """Runs "containers" on GPU seconds: authorize before starting, extend while running
    (a longer run needs a larger hold), settle the seconds used when it stops."""

    def __init__(self, svc: Service, account_id: str) -> None:
        self.svc = svc
        self.account_id = account_id

    async def start(self, max_seconds: int, ttl_s: int = 60) -> dict[str, Any]:
        status, body = await self.svc.authorize(
            account_id=self.account_id, meter="gpu_seconds", max_quantity=max_seconds, ttl_s=ttl_s
        )
        assert status == 201, body
        return dict(body)

    async def keep_running(self, auth_id: str, max_seconds: int, ttl_s: int = 60) -> Any:
        status, body = await self.svc.call(
            f"/authorizations/{auth_id}/extend", {"max_quantity": max_seconds, "ttl_s": ttl_s}
        )
        return status, body

    async def stop(self, auth_id: str, seconds: int) -> tuple[int, Any]:
        return await self.svc.call(
            f"/authorizations/{auth_id}/settle",
            {"quantity": seconds, "idempotency_key": f"stop-{auth_id}"},
        )
