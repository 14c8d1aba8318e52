"""Spend anomalies through the real gateway (official openai SDK, real PostgreSQL and Redis):
a runaway loop at 50x its key's baseline and a switch from a cheap model to the dearest are
flagged, notified and, opted in, stopped with a 403 naming the pause; the dollars each let
through are stated and bounded by docs/guides/anomalies.md's figure. A month of a quiet and
of a growing account, seeded into the hourly sums, is never flagged.

The detector's round is run here by hand (`Detector.run_once`, what the supervised
`anomalies` task runs every ANOMALY_EVERY_S), after each batch of calls settles, so each
figure is exact; /readyz shows the task itself running.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import aiohttp
import openai
import pytest

from billing.metering.usage import Usage
from billing.trust.anomalies import FLOOR_REQUESTS, HOUR, Use
from gateway.http.appkeys import NOTIFY, PRICING
from gateway.outbound.notify import WebhookSender
from gateway.stores.records import Row
from gateway.workers.anomalies import ANOMALY_EVERY_S, Detector
from gateway.workers.notifier import deliver_once
from tests.e2e.cli.test_cli_billing import login, meterway
from tests.e2e.test_idempotency_keys import operator_cookies
from tests.support.dashboard_client import CSRF, page, sign_in
from tests.support.factories import openai_client, tenant
from tests.support.fakes.webhook_sink import SECRET, webhook_sink
from tests.support.harness import ADMIN_KEY, Gateway
from tests.support.traffic import month

USAGE = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
CHEAP = "gpt-4o-mini"
ROUND = 20  # calls between two rounds of the detector


async def _clock(gw: Gateway) -> datetime:
    """The gateway's clock, moved off the last ten minutes of an hour so a test's hour does
    not turn over under it."""
    now = datetime.fromtimestamp(await gw.store.now_ms() / 1000, UTC)
    if now.minute >= 50:
        await gw.advance_clock(15 * 60 * 1000)
        now = datetime.fromtimestamp(await gw.store.now_ms() / 1000, UTC)
    return now


async def _seed(gw: Gateway, account: str, key: str, uses: dict[datetime, Use], model: str) -> None:
    """Hourly history written straight into the settler's table (usage_hours)."""
    rows = [
        (account, key, h, model, u.requests, u.spend_micros, f"seed-{h:%Y%m%d%H}", h + HOUR / 2)
        for h, u in uses.items()
        if u.requests
    ]
    await gw.stores().pool.executemany(
        "INSERT INTO usage_hours VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", rows
    )


def _weeks_before(hour: datetime, use: Use) -> dict[datetime, Use]:
    return {hour - n * HOUR: use for n in range(1, 4 * 168 + 2)}


async def _calls(gw: Gateway, key: str, model: str, n: int) -> list[int]:
    """`n` calls at once (a runaway), each asking its own prompt so that the rate rule
    judges them (the same prompt in bursts is the repeated-request rule's, flagged sooner:
    tests/e2e/test_repeated_requests.py); each one's charged micros, or -1 for a call
    refused as paused."""
    async with openai_client(gw, key) as client:

        async def one(i: int) -> int:
            ask = [{"role": "user", "content": f"step {i} {secrets.token_hex(4)}"}]
            try:
                raw = await client.chat.completions.with_raw_response.create(
                    model=model, messages=cast(Any, ask), max_tokens=600
                )
            except openai.PermissionDeniedError as exc:
                body: Any = exc.body
                assert body["code"] == "key_paused", body
                assert "/resume" in body["message"]
                return -1
            return int(raw.headers["x-meterway-cost-micros"])

        return list(await asyncio.gather(*(one(i) for i in range(n))))


async def _run_until_paused(
    gw: Gateway, key: str, model: str, detector: Detector, rounds: int
) -> tuple[int, int, list[Row]]:
    """Rounds of calls, each settled and judged, until calls are refused: (calls served,
    micros charged for them, the flags)."""
    served = charged = 0
    flags: list[Row] = []
    for _ in range(rounds):
        costs = await _calls(gw, key, model, ROUND)
        ok = [c for c in costs if c >= 0]
        served, charged = served + len(ok), charged + sum(ok)
        if len(ok) < len(costs):
            return served, charged, flags
        await gw.settle_all()
        flags += await detector.run_once()
    raise AssertionError(f"never paused after {served} calls; flags {flags}")


async def _outbox(gw: Gateway, account: str) -> list[Row]:
    rows = await gw.stores().pool.fetch(
        "SELECT event, payload FROM notify_outbox WHERE account_id = $1", account
    )
    return [dict(r) for r in rows]


async def test_a_runaway_loop_at_fifty_times_its_baseline_is_stopped(gw: Gateway) -> None:
    t = await tenant(gw, credit=50_000_000)
    status, _ = await gw.admin(
        "PUT", f"/admin/v1/accounts/{t.account_id}/anomaly-pause", {"pause": True}
    )
    assert status == 200
    hour = (await _clock(gw)).replace(minute=0, second=0, microsecond=0)
    baseline = Use(6, 6 * 450)  # six calls an hour, every hour of the last four weeks
    await _seed(gw, t.account_id, t.key_id, _weeks_before(hour, baseline), CHEAP)
    gw.control.usage = USAGE
    detector = Detector(gw.stores().anomalies(), gw.store)
    # 50x the baseline is 300 calls in the hour: flagged at FLOOR_REQUESTS (300), above
    # RATIO x the median (24) and the MAD's bound.
    served, charged, flags = await _run_until_paused(gw, t.key, CHEAP, detector, 30)
    assert [(f["rule"], f["scope"], f["paused"]) for f in flags if f["scope"] == "key"] == [
        ("rate", "key", True)
    ]
    key_flag = next(f for f in flags if f["scope"] == "key")
    assert key_flag["figures"]["measure"] == "requests"
    assert key_flag["figures"]["median"] == 6 and key_flag["figures"]["threshold"] == 300
    assert len(key_flag["request_ids"]) >= 1
    # It let through 300 calls at $0.00045: $0.135, within the documented bound of the
    # threshold plus one round of the detector (here ROUND calls).
    assert served == FLOOR_REQUESTS and charged == 300 * 450 == 135_000
    assert served <= FLOOR_REQUESTS + ROUND
    sent = await _outbox(gw, t.account_id)
    assert [r["event"] for r in sent].count("spend.anomaly") == len(flags)
    async with webhook_sink() as sink, aiohttp.ClientSession() as session:
        await deliver_once(gw.app[NOTIFY], [WebhookSender(session, sink.url, SECRET)])
    (got,) = [e["data"] for e in sink.events(t.account_id) if e["data"]["scope"] == "key"]
    assert got["paused"] is True and got["request_ids"] == key_flag["request_ids"]
    assert got["figures"]["value"] == 300 and sink.bad_signatures == 0
    # A paused key cannot lift its own pause, nor call anything else.
    async with gw.http.post(
        f"{gw.url}/v1/account/keys/{t.key_id}/resume", headers={"Authorization": f"Bearer {t.key}"}
    ) as r:
        assert r.status == 403 and (await r.json())["error"]["code"] == "key_paused"
    # The owner (here the operator's API) lifts it with one action; calls go through again.
    status, body = await gw.admin("POST", f"/admin/v1/keys/{t.key_id}/resume")
    assert status == 200 and body["resumed"] is True
    assert all(c == 450 for c in await _calls(gw, t.key, CHEAP, 3))
    status, body = await gw.admin("POST", f"/admin/v1/keys/{t.key_id}/resume")
    assert body["resumed"] is False  # not paused: nothing to lift
    # The flag fired once for this hour: a lifted pause stays lifted for the rest of it.
    await gw.settle_all()
    assert [f for f in await detector.run_once() if f["scope"] == "key"] == []
    status, listed = await gw.admin("GET", f"/admin/v1/anomalies?account_id={t.account_id}")
    assert status == 200 and {a["id"] for a in listed["data"]} == {f["id"] for f in flags}


def _dearest(gw: Gateway) -> tuple[str, int]:
    """The OpenAI chat model that charges most for one call of USAGE, and that charge."""
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    usage = Usage(input_tokens=1000, output_tokens=500)
    best = ("", 0)
    for name, price in gw.app[PRICING].models.items():
        if price.provider != "openai" or price.kind != "chat":
            continue
        cost = price.price(usage, now_ms).charged(0)
        best = max(best, (name, cost), key=lambda b: b[1])
    return best


async def test_a_switch_to_the_dearest_model_is_stopped(gw: Gateway) -> None:
    t = await tenant(gw, credit=50_000_000)
    status, _ = await gw.admin(
        "PUT",
        f"/admin/v1/accounts/{t.account_id}/anomaly-pause",
        {"pause": True, "key_id": t.key_id},
    )
    assert status == 200
    hour = (await _clock(gw)).replace(minute=0, second=0, microsecond=0)
    await _seed(gw, t.account_id, t.key_id, _weeks_before(hour, Use(2, 900)), CHEAP)
    dearest, per_call = _dearest(gw)
    assert per_call >= 100 * 450, (dearest, per_call)
    gw.control.usage = USAGE
    detector = Detector(gw.stores().anomalies(), gw.store)
    served, charged, flags = await _run_until_paused(gw, t.key, dearest, detector, 5)
    rules = {(f["scope"], f["rule"]) for f in flags}
    assert ("key", "pricier_model") in rules
    flag = next(f for f in flags if f["rule"] == "pricier_model")
    assert flag["figures"]["model"] == dearest and flag["figures"]["usual_model"] == CHEAP
    # One round of ROUND calls at the dearest price got through before the pause: the
    # documented bound (what a key spends in one detection delay) and nothing more.
    assert served == ROUND and charged == ROUND * per_call
    events = [r for r in await _outbox(gw, t.account_id) if r["event"] == "spend.anomaly"]
    assert any('"pricier_model"' in str(r["payload"]) for r in events)


async def test_a_quiet_and_a_growing_month_are_never_flagged(gw: Gateway) -> None:
    """Four weeks of history, then a month judged hour by hour by the detector over the
    real hourly sums, at each hour's end (its whole, the most it ever reads)."""
    now = await _clock(gw)
    # From 20 days ago: none of it is old enough for the gateway's own detector to drop.
    start = now.replace(minute=0, second=0, microsecond=0) - 20 * 24 * HOUR
    detector = Detector(gw.stores().anomalies(), gw.store)
    accounts = []
    for kind, seed in (("quiet", 1), ("growing", 2)):
        t = await tenant(gw, credit=0)
        await _seed(gw, t.account_id, t.key_id, month(kind, start, seed, days=59), CHEAP)
        accounts.append(t)
    for n in range(28 * 24, 59 * 24):
        end = start + n * HOUR + timedelta(minutes=59)
        for t in accounts:
            for scope, scope_id in (("key", t.key_id), ("account", t.account_id)):
                assert await detector.judge(scope, scope_id, t.account_id, end) == []
    for t in accounts:
        assert await gw.stores().anomalies().of_account(t.account_id) == []


async def test_the_detector_runs_supervised_and_shows_in_readyz(gw: Gateway) -> None:
    async with gw.http.get(
        gw.url + "/readyz", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    ) as r:
        body = await r.json()
    assert "anomalies" in str(body), body


@pytest.mark.parametrize("body", [{}, {"pause": "yes"}, {"pause": 1}, {"pause": True, "key_id": 3}])
async def test_an_opt_in_takes_a_boolean(gw: Gateway, body: dict[str, Any]) -> None:
    t = await tenant(gw, credit=0)
    status, answer = await gw.admin("PUT", f"/admin/v1/accounts/{t.account_id}/anomaly-pause", body)
    assert status == 400, answer


OWNER_SCOPES = [
    "chat",
    "billing",
    "account:read",
    "usage:read",
    "keys:read",
    "keys:write",
    "org:write",
]


async def _form(http: Any, gw: Gateway, path: str, **fields: str) -> str:
    """Post a Keys-page form as a browser does (the page's CSRF token); the page it lands on."""
    async with http.get(gw.url + "/dashboard/keys") as r:
        token = CSRF.search(await r.text())
    assert token is not None
    async with http.post(gw.url + path, data={"csrf": token.group(1), **fields}) as r:
        assert r.status == 200, await r.text()
        return str(await r.text())


@pytest.mark.timeout(480)  # CLI runs, each a Python start-up
async def test_the_owner_opts_in_and_lifts_a_pause_on_the_dashboard(
    gw: Gateway, tmp_path: Path
) -> None:
    owner = await tenant(gw, scopes=OWNER_SCOPES)
    status, agent = await gw.admin(
        "POST", "/admin/v1/keys", {"account_id": owner.account_id, "name": "agent"}
    )
    assert status == 201
    http, _, _ = await sign_in(gw, owner.key)
    async with http:
        landed = await _form(http, gw, "/dashboard/keys/anomaly-pause", pause="on")
        assert "Your choice was saved" in landed, landed
        hour = (await _clock(gw)).replace(minute=0, second=0, microsecond=0)
        now = {hour: Use(FLOOR_REQUESTS + 100, 400 * 450)}
        await _seed(gw, owner.account_id, agent["id"], now, CHEAP)
        flags = await Detector(gw.stores().anomalies(), gw.store).run_once()
        assert [(f["scope"], f["paused"]) for f in flags if f["key_id"]] == [("key", True)]
        assert (await _calls(gw, agent["key"], CHEAP, 1)) == [-1]
        _, text = await page(http, gw, "/dashboard/keys")
        assert f'data-anomaly-id="{flags[0]["id"]}"' in text and "requests of 400" in text
        assert 'class="bad">paused<' in text and "Resume agent" in text
        landed = await _form(http, gw, f"/dashboard/keys/{agent['id']}/resume")
        assert "The pause was lifted" in landed and "Resume agent" not in landed
    gw.control.usage = USAGE
    assert (await _calls(gw, agent["key"], CHEAP, 1)) == [450]
    # The operator's console shows the account's flag with its evidence.
    console = f"{gw.url}/dashboard/operators/accounts/{owner.account_id}"
    async with gw.http.get(console, cookies=await operator_cookies(gw)) as r:
        text = await r.text()
    assert r.status == 200 and f'data-anomaly-id="{flags[0]["id"]}"' in text
    assert "requests of 400 this hour" in text and "<code>seed-" in text
    login(tmp_path, ADMIN_KEY, "admin-key")
    run = await meterway(
        gw, tmp_path, "admin", "anomalies", "--account-id", owner.account_id, "--json"
    )
    assert run.code == 0, run
    assert {a["id"] for a in json.loads(run.out)["data"]} == {f["id"] for f in flags}
    run = await meterway(gw, tmp_path, "admin", "key-resume", agent["id"])
    assert run.code == 0 and "not paused" in run.out, run


@pytest.mark.timeout(480)
async def test_the_supervised_detector_stops_a_runaway_within_its_delay(gw: Gateway) -> None:
    """No hand-run round: the gateway's own settler and `anomalies` task stop a loop within
    the documented delay (ANOMALY_EVERY_S, plus the settlement's own lag)."""
    t = await tenant(gw, credit=50_000_000)
    # Prepaid at 6,000 requests a minute: the loop outruns pro's 600 before the pause.
    path = f"/admin/v1/accounts/{t.account_id}/plan"
    status, _ = await gw.admin("PUT", path, {"plan": "enterprise", "mode": "prepaid"})
    assert status == 200
    status, _ = await gw.admin(
        "PUT", f"/admin/v1/accounts/{t.account_id}/anomaly-pause", {"pause": True}
    )
    assert status == 200
    hour = (await _clock(gw)).replace(minute=0, second=0, microsecond=0)
    await _seed(gw, t.account_id, t.key_id, _weeks_before(hour, Use(6, 6 * 450)), CHEAP)
    gw.control.usage = USAGE
    loop = asyncio.get_running_loop()
    served, crossed_at = 0, None
    while True:
        costs = await _calls(gw, t.key, CHEAP, 5)
        served += sum(1 for c in costs if c >= 0)
        if crossed_at is None and served >= FLOOR_REQUESTS:
            crossed_at = loop.time()
        if -1 in costs:
            break
        assert crossed_at is None or loop.time() - crossed_at < ANOMALY_EVERY_S + 5, served
        await asyncio.sleep(0.05)
    assert crossed_at is not None, served
    # What got through after the threshold is what it spent during the detection delay.
    assert loop.time() - crossed_at <= ANOMALY_EVERY_S + 5
    flags = await gw.stores().anomalies().of_account(t.account_id)
    assert [(f["scope"], f["rule"], f["paused"]) for f in flags if f["key_id"]] == [
        ("key", "rate", True)
    ]
