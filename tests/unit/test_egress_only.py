"""Every outbound fetch of a URL someone typed goes through the egress-checked client
(gateway/outbound/egress.py): a source scan finds every `ClientSession(` the package makes,
and only the client itself and the operator's own services and providers, each named with
why, may make one. A new fetcher (a rate source, a webhook, a discovery document) that opens
a session of its own fails here."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Sessions that are not the egress client, and why each may not be one.
OWN_SERVICES = {
    "gateway/outbound/egress.py": "the egress client itself",
    "gateway/app.py": "the providers' upstream: the operator's own providers (vLLM on its"
    " network is normal), redirects refused by its middleware",
    "gateway/background.py": "ClickHouse, the operator's own analytics store",
    "gateway/outbound/otlp.py": "the operator's OTLP collector, usually a local agent",
    "gateway/outbound/otlp_metrics.py": "the operator's OTLP collector, usually a local agent",
    "gateway/workers/reconciler.py": "the providers' usage-report APIs at their own hosts",
    "gateway/cli/commands/reconcile.py": "the providers' usage-report APIs at their own hosts",
}


def _sessions(source: str) -> int:
    """How many `ClientSession(...)` / `aiohttp.request(...)` calls the module makes."""
    found = 0
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        owner = getattr(getattr(func, "value", None), "id", "")
        found += name == "ClientSession" or (owner == "aiohttp" and name == "request")
    return found


def test_only_the_egress_client_and_the_operator_s_own_services_open_sessions() -> None:
    opened = {
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "gateway").rglob("*.py"))
        if _sessions(path.read_text())
    }
    assert opened - OWN_SERVICES.keys() == set(), "fetch through outbound/egress.py"
    assert OWN_SERVICES.keys() - opened == set(), "a named exception opens no session now"


def test_the_scan_sees_a_session() -> None:
    """The scan is not blind: the rate source's old fetch, a session of its own, is found."""
    old = "async def f():\n    async with aiohttp.ClientSession(timeout=t) as http:\n        pass\n"
    assert _sessions(old) == 1
    assert _sessions("from aiohttp import ClientSession\nClientSession()\n") == 1
    assert _sessions((ROOT / "gateway/outbound/fx_rates.py").read_text()) == 0
