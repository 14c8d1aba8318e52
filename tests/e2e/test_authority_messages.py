"""The authority matrix's messages: every Realtime client event type and every MCP method a
route record declares (gateway/http/routing.py `Route.messages`), asked by every kind of
caller of tests/e2e/test_authority_matrix.py plus keys of each proxy scope, and each answer
checked against the record: the route's action decided by `may`, then the message's by
`may_send` (billing/authority.py). Allowed: the message reached the provider or the MCP
server; denied: 401 or 403 (a refused handshake, a `permission_denied` event, a JSON-RPC
error carrying 401 or 403) and nothing sent; `not-offered`: refused by name and nothing sent.

The tenant where it applies: an MCP session is its key's, so every method sent under
another organization's session is answered 404 and sent nowhere. A Realtime session has no
resource but its own socket, so its events have no second tenant to try."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from billing.authority import Action, Decision, may, may_send
from gateway.http.route_actions import message_table, records
from gateway.http.routing import Route
from gateway.mcp import wire
from gateway.mcp.upstream import SESSION_HEADER
from tests.e2e.realtime.test_realtime import until, ws_url
from tests.e2e.test_authority_matrix import (
    Caller,
    Org,
    callers,
    key_caller,
    new_org,
    operator_key,
)
from tests.support.fakes.identity import ROLE_CLAIM_ENV
from tests.support.fakes.mcp_tools import INIT, ToolServer, mcp_config, rpc, running_tools
from tests.support.fakes.realtime import RealtimeControl, fake_realtime
from tests.support.harness import Gateway, running_gateway

SERVER, TOOL = "tools", "search"
# Keys of each proxy scope; one holds another tool's scope (it reaches the server, not TOOL).
PROXY_SCOPES = [[], ["realtime"], ["mcp"], ["mcp:tools"], ["mcp:tools:search"]]
PROXY_SCOPES += [["mcp:tools:fetch_pages"], ["mcp:other"]]
CREDIT = 50_000_000
IDS = itertools.count(1)
# A body for each message that needs one to be well formed; the rest are sent bare.
EVENT_BODIES: dict[str, dict[str, Any]] = {
    "session.update": {"session": {"type": "realtime"}},
    "input_audio_buffer.append": {"audio": "AAAAAAAA"},
    "conversation.item.create": {
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "x"}],
        }
    },
    "conversation.item.retrieve": {"item_id": "item_none"},
    "conversation.item.truncate": {"item_id": "item_none", "content_index": 0, "audio_end_ms": 0},
    "conversation.item.delete": {"item_id": "item_none"},
}
METHOD_PARAMS: dict[str, Any] = {
    "initialize": INIT["params"],
    "tools/call": {"name": TOOL, "arguments": {"query": "q"}},
    "notifications/cancelled": {"requestId": 1},
    "notifications/progress": {"progressToken": 1, "progress": 1},
}


@dataclass
class Surfaces:
    gw: Gateway
    realtime: RealtimeControl
    tools: ToolServer
    sessions: dict[str, str] = field(default_factory=dict)  # an MCP session by account


@dataclass(frozen=True)
class Asked:
    """One message asked by one caller: what came back, and what the record allows."""

    caller: str
    message: str
    where: str
    got: str
    wants: frozenset[str]

    def wrong(self) -> str:
        if self.got in self.wants:
            return ""
        wants = " or ".join(sorted(self.wants))
        return f"{self.caller:18} {self.message:34} ({self.where}): {self.got}, record says {wants}"


@pytest.fixture(scope="module")
async def s(dsn: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Surfaces]:
    async with fake_realtime() as (url, control), running_tools() as tools:
        config = Path(tmp_path_factory.mktemp("mcp")) / "meterway.toml"
        config.write_text(mcp_config(tools.url))
        env = {**ROLE_CLAIM_ENV, "OPENAI_BASE_URL": url, "STREAM_DRAIN_TIMEOUT_S": "3"}
        async with running_gateway(dsn, config, **env) as gateway:
            yield Surfaces(gateway, control, tools)
            await gateway.settle_all()


async def funded(gw: Gateway) -> Org:
    org = await new_org(gw)
    body = {"amount_micros": CREDIT, "idempotency_key": "seed", "reason": "test"}
    status, _ = await gw.admin("POST", f"/admin/v1/accounts/{org.account_id}/credits", body)
    assert status in (200, 201)
    return org


async def message_callers(gw: Gateway, own: Org, other: Org) -> list[Caller]:
    """The HTTP matrix's callers, keys of each proxy scope, and another organization's."""
    found = await callers(gw, own, other)
    for scopes in PROXY_SCOPES:
        key = await operator_key(gw, own.account_id, scopes)
        found.append(key_caller(f"key[{','.join(scopes)}]", own.account_id, key, None))
    theirs = await operator_key(gw, other.account_id, ["realtime", "mcp"])
    found.append(key_caller("other org's mcp key", other.account_id, theirs, None))
    return found


def credential(caller: Caller) -> dict[str, str]:
    if caller.service is not None:
        return {"X-API-Key": caller.service[0], "X-Service-Name": caller.service[1]}
    return {"Authorization": f"Bearer {caller.bearer()}"}


def wanted(caller: Caller, route: Route, action: Action, *target: str) -> frozenset[str]:
    """What the record allows `caller`: the route's action by `may`, then the message's."""
    if may(caller.actor, route.action) is not Decision.ALLOW:
        return frozenset({"denied"})
    if action.surface == "closed":  # refused by name, or first for the server's scope
        return frozenset({"not offered", "denied"})
    return frozenset({"sent" if may_send(caller.actor.scopes, action, *target) else "denied"})


# Realtime: one session per caller, every event type sent in it.


async def ask_realtime(s: Surfaces, caller: Caller, route: Route) -> list[Asked]:
    tag = f"mx{next(IDS)}"
    try:
        ws = await websockets.connect(ws_url(s.gw), additional_headers=credential(caller))
    except InvalidStatus as exc:
        status = exc.response.status_code
        refused = "denied" if status in (401, 403) else f"handshake {status}"
        return [_asked(caller, route, kind, refused) for kind in route.messages]
    async with ws:
        await until(ws, "session.created")
        for kind in route.messages:
            event = {"type": kind, "event_id": f"{tag}-{kind}", **EVENT_BODIES.get(kind, {})}
            await ws.send(orjson.dumps(event).decode())
        got = await _outcomes(ws, s.realtime, tag, route.messages)
    return [_asked(caller, route, kind, got.get(kind, "no answer")) for kind in route.messages]


def _asked(caller: Caller, route: Route, kind: str, got: str) -> Asked:
    wants = wanted(caller, route, route.messages[kind])
    return Asked(caller.name, kind, "own session", got, wants)


async def _outcomes(
    ws: Any, fake: RealtimeControl, tag: str, kinds: Mapping[str, Action]
) -> dict[str, str]:
    """Each event's fate: `sent` (the provider received it), `denied` (a permission_denied
    event named it) or the code of another error event naming it."""
    got: dict[str, str] = {}
    deadline = asyncio.get_running_loop().time() + 10
    while len(got) < len(kinds) and asyncio.get_running_loop().time() < deadline:
        try:
            event = orjson.loads(await asyncio.wait_for(ws.recv(), 0.05))
        except TimeoutError:
            event = {}
        for frame in fake.frames:  # before any error: the provider's own name sent ones
            if f'"{tag}-' in frame:
                got.setdefault(orjson.loads(frame)["type"], "sent")
        error = event.get("error") if event.get("type") == "error" else None
        named = str((error or {}).get("event_id") or "")
        if isinstance(error, dict) and named.startswith(tag + "-"):
            code = "denied" if error.get("code") == "permission_denied" else str(error.get("code"))
            got.setdefault(named.removeprefix(tag + "-"), code)
    return got


# MCP: each caller's own session (opened by initialize), then another organization's.


async def ask_mcp(s: Surfaces, caller: Caller, route: Route) -> list[Asked]:
    own = await _opened(s, caller)
    theirs = next(v for k, v in s.sessions.items() if k != caller.actor.account_id)
    found = []
    for where, session in (("own session", own), ("other org's session", theirs)):
        for method, action in route.messages.items():
            got = await _send_method(s, caller, method, session)
            wants = wanted(caller, route, action, *_target(method))
            if where != "own session":  # a caller the route lets in finds no such session
                opens = may(caller.actor, route.action) is Decision.ALLOW
                wants = frozenset({"hidden" if opens else "denied"})
            found.append(Asked(caller.name, method, where, got, wants))
    return found


def _target(method: str) -> tuple[str, ...]:
    return (SERVER, TOOL) if method == "tools/call" else (SERVER,)


async def _post(
    s: Surfaces, caller: Caller, message: dict[str, Any], session: str | None
) -> tuple[int, Any, str | None]:
    headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version":
               "2025-11-25", **credential(caller)}  # fmt: skip
    if session is not None:
        headers[SESSION_HEADER] = session
    async with s.gw.http.post(f"{s.gw.url}/mcp/{SERVER}", json=message, headers=headers) as r:
        raw = await r.read()
        bound = r.headers.get(SESSION_HEADER)
    if r.content_type == wire.SSE:
        return r.status, wire.response_to(wire.SSE, raw, message.get("id")), bound
    return r.status, orjson.loads(raw) if raw else None, bound


async def _opened(s: Surfaces, caller: Caller) -> str | None:
    """The caller's own session, as initialize hands it out (None: refused one)."""
    status, _, bound = await _post(s, caller, {**INIT, "id": "open"}, None)
    return bound if status == 200 else None


async def _send_method(s: Surfaces, caller: Caller, method: str, session: str | None) -> str:
    """The method's fate: sent (the server received it), denied, not offered, hidden (404)."""
    notification = method.startswith("notifications/")
    message = rpc(None if notification else next(IDS), method, METHOD_PARAMS.get(method, {}))
    before = s.tools.methods[method]
    status, body, _ = await _post(s, caller, message, session)
    sent = s.tools.methods[method] > before
    error = body.get("error") if isinstance(body, dict) else None
    data = error.get("data") if isinstance(error, dict) else None
    refused_status = data.get("status") if isinstance(data, dict) else None
    if status in (401, 403) or refused_status in (401, 403):
        got = "denied"
    elif isinstance(data, dict) and data.get("reason") == "method_not_offered":
        got = "not offered"
    elif status == 404:
        got = "hidden"
    else:
        got = "sent" if sent else f"not sent ({status}, {error})"
    return got if not sent or got == "sent" else f"{got} yet sent"


# How the matrix asks a route's messages, by route path: a route whose record declares
# messages and has no asker here fails, so a type or method added to a record cannot stay
# out of the matrix.
MESSAGE_ASKERS: dict[str, Callable[[Surfaces, Caller, Route], Awaitable[list[Asked]]]] = {
    "/v1/realtime": ask_realtime,
    "/mcp/{server}": ask_mcp,
}


async def test_every_declared_message_answers_every_caller_as_its_record_decides(
    s: Surfaces,
) -> None:
    own, other = await funded(s.gw), await funded(s.gw)
    everyone = await message_callers(s.gw, own, other)
    for name in ("key[mcp]", "other org's mcp key"):  # a session of each organization's
        opener = next(c for c in everyone if c.name == name)
        s.sessions[str(opener.actor.account_id)] = str(await _opened(s, opener))
    declared = {path: r for (_, path), r in records(s.gw.app).items() if r.messages}
    assert sorted(declared) == sorted(MESSAGE_ASKERS), "declared messages the matrix cannot ask"
    asked: list[Asked] = []
    for path, route in declared.items():
        for caller in everyone:
            asked += await MESSAGE_ASKERS[path](s, caller, route)
    wrong = [w for a in asked if (w := a.wrong())]
    assert not wrong, "\n".join(wrong)
    # Every message was both let through to someone and refused to someone (a closed one:
    # refused to everyone), so neither answer can be the only one the matrix checks.
    rows = message_table(s.gw.app)
    assert {a.message for a in asked if a.got == "denied"} == {n for (_, _, n) in rows}
    opened = {n for (_, _, n), action in rows.items() if action.surface != "closed"}
    assert {a.message for a in asked if a.got == "sent"} == opened
    assert len(asked) > 1400, len(asked)
