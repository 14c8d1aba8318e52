"""Every MCP method a client may send through `/mcp/{server}`, as data: the scope its key
must hold and what it costs. A method without an entry is refused by name, like one whose
entry says so; nothing reaches the operator's server without passing this table.

- `priced`: `tools/call`, held at its tool's price and settled (services/metering/tool_calls.py).
- `free`: the protocol itself (starting and ending a session, pings, the tool list filtered
  to what the key may call, notifications about the client's own requests): it reaches no
  resource of the server's, so there is nothing to price.
- `refused`: reads of the server's resources and prompts, completions, logging and tasks.
  They run with the operator's credential and the operator gives them no price, so none is
  sent; the server's capabilities for them are taken out of `initialize`'s answer.

Actions (billing/authority.py, decided by `may_send`): `MCP_SERVER` is any MCP scope that
reaches the server (`mcp`, `mcp:SERVER` or one of its tools' `mcp:SERVER:TOOL`), which every
method needs first (a refused one is then refused by name); `MCP_TOOL` the called tool's
own (`may_call_tool`); `NOT_OFFERED` nobody's. A key without scopes reaches every
endpoint, as on the proxy's routes. POST /mcp/{server} declares MCP_METHOD_ACTIONS as its
messages, so the route printout, the reference and the authority matrix read this table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from billing.authority import MCP_SERVER, MCP_TOOL, NOT_OFFERED, Action, message_actions

Charge = Literal["free", "priced", "refused"]


@dataclass(frozen=True, slots=True)
class McpMethod:
    """A method's action (the scope it needs, billing/authority.py's `may_send`) and what it
    costs. Made only with its action, and a refused method's action refuses everyone: the
    entry cannot say "refused" and let a caller through, nor the reverse."""

    action: Action
    charge: Charge

    def __post_init__(self) -> None:
        if not isinstance(self.action, Action):
            raise TypeError("an MCP method needs the action it takes")
        if (self.charge == "refused") != (self.action is NOT_OFFERED):
            raise TypeError("an MCP method is refused exactly when its action is NOT_OFFERED")


_FREE = McpMethod(MCP_SERVER, "free")
_REFUSED = McpMethod(NOT_OFFERED, "refused")
MCP_METHODS: Mapping[str, McpMethod] = MappingProxyType(
    {
        "initialize": _FREE,
        "ping": _FREE,
        "tools/list": _FREE,
        "tools/call": McpMethod(MCP_TOOL, "priced"),
        "notifications/initialized": _FREE,
        "notifications/cancelled": _FREE,
        "notifications/progress": _FREE,
        "notifications/roots/list_changed": _FREE,
        "resources/list": _REFUSED,
        "resources/templates/list": _REFUSED,
        "resources/read": _REFUSED,
        "resources/subscribe": _REFUSED,
        "resources/unsubscribe": _REFUSED,
        "prompts/list": _REFUSED,
        "prompts/get": _REFUSED,
        "completion/complete": _REFUSED,
        "logging/setLevel": _REFUSED,
        "tasks/get": _REFUSED,
        "tasks/result": _REFUSED,
        "tasks/list": _REFUSED,
        "tasks/cancel": _REFUSED,
    }
)
# A client's answer to the server's own request (roots, sampling, elicitation): no method.
CLIENT_RESPONSE = _FREE
# Each method's action, read off the table: what POST /mcp/{server} declares as its messages.
MCP_METHOD_ACTIONS: Mapping[str, Action] = message_actions(
    {name: entry.action for name, entry in MCP_METHODS.items()}
)
# What `initialize`'s answer may tell a client the server offers: what the table serves.
OFFERED_CAPABILITIES = frozenset({"tools"})


def method_entry(method: object) -> McpMethod | None:
    """The table's entry for a message's `method` (None: refused, not even named here)."""
    return MCP_METHODS.get(method) if isinstance(method, str) else None


def offered(capabilities: object) -> object:
    """A server's capabilities as the gateway serves them."""
    if not isinstance(capabilities, dict):
        return capabilities
    return {k: v for k, v in capabilities.items() if k in OFFERED_CAPABILITIES}
