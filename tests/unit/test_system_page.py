"""The System page's template read against the value GET /admin/v1/system answers: a
cooling upstream with its end, a parked settlement, an exporter's rows by state."""

from __future__ import annotations

from gateway.http.dashboard.web import DEFAULTS, environment

READINESS = {
    "status": "ready",
    "postgres": True,
    "redis": True,
    "redis_consistent": True,
    "price_catalogue": "genai-prices 0.2.3",
    "settlement_backlog": 1234,
    "settlement_lag_ms": 56,
    "settlement_dead_letters": 1,
    "warning": "settlements were refused by the ledger and parked",
    "tasks": {"settler": {"healthy": False, "running": False, "crashes": 3, "last_error": "boom"}},
    "upstreams": {
        "openai-eu": {"state": "up", "cooling_for_s": 0.0},
        "openai-us": {
            "state": "cooling",
            "cooling_for_s": 12.5,
            "cooling_until": "2026-11-25T13:04:05.500+00:00",
        },
    },
}
REPORT = {
    "object": "system",
    "readiness": READINESS,
    "ledger_rows_written": 99,
    "dead_letters": [
        {
            "id": "1-0",
            "shard": 0,
            "message_id": "9-0",
            "reason": "ledger refused: no such account",
            "request_id": "req_1",
            "account_id": "acct_x",
            "parked_at": "2026-11-25T12:00:00+00:00",
        }
    ],
    "exporters": [
        {"target": "stripe", "configured": True, "task": READINESS["tasks"]["settler"],  # type: ignore[index]
         "rows": {"sent": 3, "failed": 1}},
        {"target": "lago", "configured": False, "task": None, "rows": {}},
    ],
}  # fmt: skip


def test_the_system_page_says_each_part_in_words() -> None:
    page = environment().get_template("ops_system.html")
    html = page.render({**DEFAULTS, "title": "System", "report": REPORT})
    assert "cooling for 12.5 s" in html and "2026-11-25 13:04 UTC" in html
    assert "1,234 queued" in html and "56 ms" in html and "1 parked" in html
    assert (
        "ledger refused: no such account" in html
        and 'href="/dashboard/operators/accounts/acct_x"' in html
    )
    assert "stopped, unhealthy" in html and "boom" in html
    assert "failed: 1; sent: 3" in html and "nothing exported yet" in html
    assert "settlements were refused by the ledger and parked" in html
