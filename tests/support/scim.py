"""Calling a test gateway's /scim/v2 as a directory does: its organization's SCIM token
(minted by the operator) as the bearer, SCIM's JSON both ways."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tests.support.harness import Gateway

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@dataclass
class Directory:
    gw: Gateway
    account_id: str
    token: str

    async def call(
        self, method: str, path: str, body: Any = None, **headers: str
    ) -> tuple[int, Any, Mapping[str, str]]:
        sent = {"Authorization": f"Bearer {self.token}", "content-type": "application/scim+json"}
        data = None if body is None else json.dumps(body)
        url = self.gw.url + "/scim/v2" + path
        async with self.gw.http.request(method, url, data=data, headers=sent | headers) as r:
            text = await r.text()
            return r.status, json.loads(text) if text else None, r.headers.copy()

    async def user(self, user_name: str, **fields: Any) -> dict[str, Any]:
        body = {"schemas": [USER], "userName": user_name, "active": True, **fields}
        status, made, _ = await self.call("POST", "/Users", body)
        assert status == 201, made
        return dict(made)

    async def group(self, name: str, *user_ids: str) -> dict[str, Any]:
        body = {
            "schemas": [GROUP],
            "displayName": name,
            "members": [{"value": u} for u in user_ids],
        }
        status, made, _ = await self.call("POST", "/Groups", body)
        assert status == 201, made
        return dict(made)

    async def patch(self, path: str, *ops: dict[str, Any]) -> tuple[int, Any]:
        status, body, _ = await self.call(
            "PATCH", path, {"schemas": [PATCH], "Operations": list(ops)}
        )
        return status, body


async def mint_token(gw: Gateway, account_id: str) -> str:
    status, made = await gw.admin("POST", f"/admin/v1/accounts/{account_id}/scim/token")
    assert status == 201, made
    return str(made["token"])


async def directory_of(gw: Gateway, account_id: str) -> Directory:
    return Directory(gw, account_id, await mint_token(gw, account_id))
