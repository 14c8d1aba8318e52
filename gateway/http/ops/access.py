"""Who may read /metrics and the details of /readyz.

With ADMIN_LISTEN_ADDR set, only requests that arrived on that listener; without it, only
requests bearing the operator's key. /healthz stays public everywhere.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from gateway.http.appkeys import SETTINGS


def _on_admin_listener(request: web.Request, port: int) -> bool:
    sock = request.transport.get_extra_info("sockname") if request.transport else None
    return isinstance(sock, tuple) and len(sock) >= 2 and int(sock[1]) == port


def ops_allowed(request: web.Request) -> bool:
    settings = request.config_dict[SETTINGS]
    if settings.admin_listen is not None:
        return _on_admin_listener(request, settings.admin_listen[1])
    auth = request.headers.get("Authorization", "")
    token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    expected = settings.admin_api_key
    return token.isascii() and hmac.compare_digest(token.encode(), expected.encode())
