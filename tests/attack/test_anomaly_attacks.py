"""Attacks on spend anomalies and key pauses (docs/guides/anomalies.md): runaways driven
through the OpenAI wire against a provider of the attacks' own, pauses opted in and lifted
through the account and operator APIs, and every way around a pause tried."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.attack.calls import chat
from tests.attack.provider import Provider, fake_provider
from tests.support.factories import Tenant, tenant
from tests.support.harness import Gateway, running_gateway, temp_database

SCOPES = ["inference", "account:read", "keys:write", "usage:read", "org:write", "ledger:read"]
RUNAWAY = "runaway agent loop, step {n}"  # each prompt its own: no repeated_request
# gpt-4o at 1,000 in / 16,000 out: 2,500 + 160,000 = 162,500 micros a call; 7 calls pass the
# $1.00 floor of a key without history (a new key is held only to the floors).
CALL_MICROS = 162_500


@dataclass
class Scene:
    gw: Gateway
    p: Provider
    t: dict[str, Tenant]
    extra: dict[str, dict[str, str]]  # scene -> name -> key secret / id


async def call(
    gw: Gateway, key: str, prompt: str = "hello", model: str = "gpt-4o-mini"
) -> tuple[int, Any]:
    status, _, body = await chat(gw, key, model, prompt, max_tokens=16384)
    return status, body


async def account_api(
    gw: Gateway, key: str, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    async with gw.http.request(
        method, gw.url + path, headers={"Authorization": f"Bearer {key}"}, json=body
    ) as r:
        return r.status, await r.json(content_type=None)


async def run_away(gw: Gateway, key: str, calls: int = 7) -> None:
    for n in range(calls):
        status, body = await call(
            gw, key, RUNAWAY.format(n=secrets.token_hex(4) + str(n)), "gpt-4o"
        )
        assert status == 200, body


async def anomalies(gw: Gateway, account_id: str) -> list[dict[str, Any]]:
    status, body = await gw.admin("GET", f"/admin/v1/anomalies?account_id={account_id}")
    assert status == 200, body
    return list(body["data"])


async def until_flag(gw: Gateway, account_id: str, **match: Any) -> dict[str, Any]:
    """Poll the operator API until a flag of the account matches (60 s at most)."""
    for _ in range(600):
        for flag in await anomalies(gw, account_id):
            if all(flag.get(k) == v for k, v in match.items()):
                return flag
        await asyncio.sleep(0.1)
    raise AssertionError((match, await anomalies(gw, account_id)))


def is_paused_answer(status: int, body: Any) -> bool:
    err = body.get("error", {}) if isinstance(body, dict) else {}
    return (
        status == 403 and err.get("type") == "permission_denied" and err.get("code") == "key_paused"
    )


async def new_key(gw: Gateway, account_id: str, name: str) -> dict[str, Any]:
    status, key = await gw.admin(
        "POST", "/admin/v1/keys", {"account_id": account_id, "name": name, "scopes": SCOPES}
    )
    assert status == 201, key
    return dict(key)


@pytest.fixture(scope="module")
async def scene() -> AsyncIterator[Scene]:
    """Every runaway at once, each in an account of its own, then every flag awaited:
    - paused, revoked, unlifted, rotated: the account opted in (by its own key, by the
      operator), its key ran away;
    - told: no opt-in;
    - optout: the account opted in, its key opted out (`"pause": false`);
    - optin: the account off, its key opted in by the operator;
    - follows: the key opted out, then `"pause": null` (follows the account's on);
    - spread: two keys of an opted-in account, each under the floor, the account over it."""
    async with (
        temp_database() as dsn,
        fake_provider() as p,
        running_gateway(dsn, None, OPENAI_BASE_URL=p.url + "/v1", ANOMALY_EVERY_S="1") as gw,
    ):
        p.prompt_tokens, p.completion_tokens = 1000, 16_000
        names = ["paused", "revoked", "unlifted", "rotated", "told", "optout", "optin"]
        names += ["follows", "spread"]
        t = {n: await tenant(gw, credit=10_000_000, scopes=SCOPES) for n in names}
        extra: dict[str, dict[str, str]] = {n: {} for n in names}
        # opt in: the customer's own route, or the operator's
        status, body = await account_api(
            gw, t["paused"].key, "PUT", "/v1/account/anomaly-pause", {"pause": True}
        )
        assert status == 200, body
        for n in ("revoked", "unlifted", "rotated", "optout", "follows", "spread"):
            s, b = await gw.admin(
                "PUT", f"/admin/v1/accounts/{t[n].account_id}/anomaly-pause", {"pause": True}
            )
            assert s == 200, b
        for n, choice in (("optout", False), ("optin", True), ("follows", False)):
            s, b = await gw.admin(
                "PUT",
                f"/admin/v1/accounts/{t[n].account_id}/anomaly-pause",
                {"key_id": t[n].key_id, "pause": choice},
            )
            assert s == 200, b
        s, b = await account_api(
            gw,
            t["follows"].key,
            "PUT",
            "/v1/account/anomaly-pause",
            {"key_id": t["follows"].key_id, "pause": None},
        )
        assert s == 200, b
        # the paused account: a sibling key (the owner's hand) and a key the runaway minted
        sibling = await new_key(gw, t["paused"].account_id, "sibling")
        extra["paused"]["sibling"], extra["paused"]["sibling_id"] = sibling["key"], sibling["id"]
        s, child = await account_api(
            gw, t["paused"].key, "POST", "/v1/account/keys", {"name": "child", "scopes": SCOPES}
        )
        assert s in (200, 201), child
        extra["paused"]["child"], extra["paused"]["child_id"] = child["key"], child["id"]
        second = await new_key(gw, t["spread"].account_id, "second")
        extra["spread"]["second"], extra["spread"]["second_id"] = second["key"], second["id"]
        for n in ("unlifted", "rotated", "revoked"):
            other = await new_key(gw, t[n].account_id, "owner")
            extra[n]["owner"], extra[n]["owner_id"] = other["key"], other["id"]
        runs = [run_away(gw, t[n].key) for n in names if n != "spread"]
        runs += [run_away(gw, t["spread"].key, 4), run_away(gw, second["key"], 4)]
        await asyncio.gather(*runs)
        for n in names:
            if n == "spread":
                await until_flag(gw, t[n].account_id, scope="account", rule="rate")
            else:
                await until_flag(
                    gw, t[n].account_id, scope="key", scope_id=t[n].key_id, rule="rate"
                )
        yield Scene(gw, p, t, extra)


async def test_a_flagged_opted_in_key_is_refused_from_its_next_request(scene: Scene) -> None:
    """anomalies.md: A paused key's calls are refused from its next request ... The account
    API refuses it too. The answer is a `403` {"type": "permission_denied", "code":
    "key_paused", ...}; the flag's entry: scope key, rule rate, paused true."""
    gw, t = scene.gw, scene.t["paused"]
    flag = await until_flag(gw, t.account_id, scope="key", scope_id=t.key_id)
    assert flag["paused"] is True and flag["key_id"] == t.key_id and flag["rule"] == "rate", flag
    assert flag["figures"]["measure"] == "spend_micros", flag
    status, body = await call(gw, t.key)
    assert is_paused_answer(status, body), (status, body)
    assert "/resume" in body["error"]["message"], body
    status, body = await account_api(gw, t.key, "GET", "/v1/account")
    assert is_paused_answer(status, body), (status, body)
    # the customer sees its flag too
    status, mine = await account_api(
        gw, scene.extra["paused"]["sibling"], "GET", "/v1/account/anomalies"
    )
    assert status == 200 and any(f["id"] == flag["id"] for f in mine["data"]), mine


async def test_a_paused_key_cannot_lift_its_own_pause_nor_mint_its_way_out(scene: Scene) -> None:
    """anomalies.md: A paused key cannot lift its own pause. Its owner lifts it with one
    action ... The account API refuses it too (a paused key mints no new key)."""
    gw, t = scene.gw, scene.t["paused"]
    status, body = await account_api(gw, t.key, "POST", f"/v1/account/keys/{t.key_id}/resume")
    assert status == 403, (status, body)
    status, body = await account_api(
        gw, t.key, "POST", "/v1/account/keys", {"name": "escape", "scopes": ["chat"]}
    )
    assert status == 403, (status, body)
    status, body = await account_api(
        gw, t.key, "POST", "/v1/auth/tokens", {"name": "escape", "scopes": ["chat"]}
    )
    assert status == 403, (status, body)
    status, body = await account_api(
        gw, t.key, "PUT", "/v1/account/anomaly-pause", {"pause": False}
    )
    assert status == 403, (status, body)
    assert is_paused_answer(*(await call(gw, t.key)))


async def test_a_key_the_runaway_minted_cannot_lift_its_minters_pause(scene: Scene) -> None:
    """anomalies.md: A paused key cannot lift its own pause ... A pause belongs to the secret
    that ran away. A key it minted before (its own, kept to it) lifting it would be the
    runaway lifting its own pause."""
    gw, t, extra = scene.gw, scene.t["paused"], scene.extra["paused"]
    status, body = await account_api(
        gw, extra["child"], "POST", f"/v1/account/keys/{t.key_id}/resume"
    )
    assert status in (403, 404), (status, body)
    assert is_paused_answer(*(await call(gw, t.key)))


async def test_the_owner_lifts_it_once_and_the_same_rule_does_not_pause_it_again(
    scene: Scene,
) -> None:
    """anomalies.md: Its owner lifts it with one action, and it works again from its next
    request. Lifting is audited (`key.resume`), as is an opt-in (`account.anomaly_pause`).
    Each rule fires at most once per scope and UTC hour. A key whose owner lifted its pause
    is not paused again by the same rule in the same hour."""
    gw, t, extra = scene.gw, scene.t["unlifted"], scene.extra["unlifted"]
    assert is_paused_answer(*(await call(gw, t.key)))
    status, body = await account_api(
        gw, extra["owner"], "POST", f"/v1/account/keys/{t.key_id}/resume"
    )
    assert status == 200, body
    status, body = await call(gw, t.key)
    assert status == 200, body
    await run_away(gw, t.key, 7)  # twice the floor now
    # a round marker: a fresh runaway judged after this key's spend settled
    marker = await tenant(gw, credit=10_000_000, scopes=SCOPES)
    await run_away(gw, marker.key)
    await until_flag(gw, marker.account_id, scope="key", rule="rate")
    status, body = await call(gw, t.key)
    assert status == 200, body
    mine = [f for f in await anomalies(gw, t.account_id) if f["scope"] == "key"]
    assert len(mine) == 1, mine
    status, audit = await gw.admin("GET", f"/admin/v1/audit?account_id={t.account_id}")
    assert status == 200, audit
    actions = [e.get("action") for e in audit["data"]]
    assert "key.resume" in actions and "account.anomaly_pause" in actions, actions


async def test_nothing_but_resume_lifts_a_pause(scene: Scene) -> None:
    """anomalies.md: Nothing else lifts a pause: new limits, scopes, expiry or team leave the
    key paused."""
    gw, t = scene.gw, scene.t["rotated"]  # its rotation is tried in the next test
    owner = scene.extra["rotated"]["owner"]
    s, b = await gw.admin(
        "PUT",
        f"/admin/v1/keys/{t.key_id}/quotas",
        {"quotas": [{"window": "day", "metric": "requests", "limit": 1000}]},
    )
    assert s == 200, b
    assert is_paused_answer(*(await call(gw, t.key))), "new limits lifted the pause"
    s, b = await account_api(
        gw, owner, "PATCH", f"/v1/account/keys/{t.key_id}", {"scopes": ["chat", "account:read"]}
    )
    assert s == 200, b
    assert is_paused_answer(*(await call(gw, t.key))), "new scopes lifted the pause"
    s, b = await account_api(
        gw, owner, "PATCH", f"/v1/account/keys/{t.key_id}", {"expires_at": "2030-01-01T00:00:00Z"}
    )
    assert s == 200, b
    assert is_paused_answer(*(await call(gw, t.key))), "a new expiry lifted the pause"
    s, team = await account_api(gw, owner, "POST", "/v1/account/teams", {"name": "research"})
    assert s in (200, 201), team
    s, b = await account_api(
        gw, owner, "PUT", f"/v1/account/keys/{t.key_id}/team", {"team_id": team["id"]}
    )
    assert s == 200, b
    assert is_paused_answer(*(await call(gw, t.key))), "joining a team lifted the pause"
    s, b = await account_api(
        gw, owner, "PUT", f"/v1/account/keys/{t.key_id}/team", {"team_id": None}
    )
    assert s == 200, b
    assert is_paused_answer(*(await call(gw, t.key))), "leaving a team lifted the pause"
    # opting the account out does not lift a pause already taken
    s, b = await gw.admin(
        "PUT", f"/admin/v1/accounts/{t.account_id}/anomaly-pause", {"pause": False}
    )
    assert s == 200, b
    assert is_paused_answer(*(await call(gw, t.key))), "opting out lifted the pause"


async def test_rotating_a_paused_key_serves_the_new_secret_and_refuses_the_old(
    scene: Scene,
) -> None:
    """anomalies.md: rotating a paused key makes a new secret that is served, and the paused
    one stays refused through its grace."""
    gw, t = scene.gw, scene.t["rotated"]
    owner = scene.extra["rotated"]["owner"]
    s, rotated = await account_api(gw, owner, "POST", f"/v1/account/keys/{t.key_id}/rotate")
    assert s in (200, 201), rotated
    status, body = await call(gw, rotated["key"])
    assert status == 200, body
    assert is_paused_answer(*(await call(gw, t.key))), "the old secret was served in its grace"


async def test_a_revoked_key_stays_revoked_when_its_pause_is_lifted(scene: Scene) -> None:
    """anomalies.md: A revoked key stays revoked: lifting a pause does not revive it."""
    gw, t = scene.gw, scene.t["revoked"]
    s, b = await gw.admin("DELETE", f"/admin/v1/keys/{t.key_id}")
    assert s in (200, 204), b
    s, b = await gw.admin("POST", f"/admin/v1/keys/{t.key_id}/resume")
    assert s in (200, 404, 409), b
    status, body = await call(gw, t.key)
    assert status == 401, (status, body)


async def test_without_an_opt_in_a_flag_only_tells(scene: Scene) -> None:
    """anomalies.md: Off by default: a flag only tells."""
    gw, t = scene.gw, scene.t["told"]
    flag = await until_flag(gw, t.account_id, scope="key", scope_id=t.key_id)
    assert flag["paused"] is False, flag
    status, body = await call(gw, t.key)
    assert status == 200, body


@pytest.mark.parametrize(
    "name, paused",
    [("optout", False), ("optin", True), ("follows", True)],
    ids=["key-off-over-account-on", "key-on-over-account-off", "null-follows-account"],
)
async def test_a_keys_own_choice_wins_over_its_accounts(
    scene: Scene, name: str, paused: bool
) -> None:
    """anomalies.md: one key, over its account's choice: the same with `"key_id"`;
    `"pause": null` (`account`) makes it follow the account again."""
    gw, t = scene.gw, scene.t[name]
    flag = await until_flag(gw, t.account_id, scope="key", scope_id=t.key_id)
    assert flag["paused"] is paused, flag
    status, body = await call(gw, t.key)
    assert is_paused_answer(status, body) is paused, (status, body)


async def test_an_accounts_flag_pauses_no_key(scene: Scene) -> None:
    """anomalies.md: Only a key's own flags pause it; a team's or an account's flag is
    notified only."""
    gw, t, extra = scene.gw, scene.t["spread"], scene.extra["spread"]
    flag = await until_flag(gw, t.account_id, scope="account", rule="rate")
    assert flag["scope_id"] == t.account_id, flag
    keyed = [f for f in await anomalies(gw, t.account_id) if f["scope"] == "key"]
    assert keyed == [], keyed  # each key stayed under the $1.00 floor
    for key in (t.key, extra["second"]):
        status, body = await call(gw, key)
        assert status == 200, (status, body)


async def test_another_account_cannot_see_lift_or_steer_a_pause(scene: Scene) -> None:
    """anomalies.md: Its owner lifts it; one key, over its account's choice: the account's
    own keys (organizations.md: another organization's keys answer 404)."""
    gw, victim = scene.gw, scene.t["optin"]  # paused, and left so by the tests before
    stranger = await tenant(gw, credit=1_000_000, scopes=SCOPES)
    s, b = await account_api(gw, stranger.key, "POST", f"/v1/account/keys/{victim.key_id}/resume")
    assert s == 404, (s, b)
    s, b = await account_api(
        gw,
        stranger.key,
        "PUT",
        "/v1/account/anomaly-pause",
        {"key_id": victim.key_id, "pause": False},
    )
    assert s == 404, (s, b)
    s, b = await account_api(gw, stranger.key, "GET", "/v1/account/anomalies")
    assert s == 200 and all(f["account_id"] == stranger.account_id for f in b["data"]), b
    assert is_paused_answer(*(await call(gw, victim.key)))


async def test_the_runaways_spend_before_its_pause_is_bounded(scene: Scene) -> None:
    """anomalies.md: What a runaway can spend before a pause: at most its threshold for the
    hour (for a key without history: 300 calls or $1.00), plus what it spends during one
    detection delay, plus the calls already in flight. The runaway here stopped by itself
    at 7 calls (1,137,500 micros): its flag names the $1.00 floor."""
    gw, t = scene.gw, scene.t["paused"]
    flag = await until_flag(gw, t.account_id, scope="key", scope_id=t.key_id)
    figures = flag["figures"]
    assert figures["floor"] == 1_000_000 and figures["threshold"] == 1_000_000, figures
    assert figures["value"] >= 1_000_000 and figures["value"] <= 7 * CALL_MICROS, figures
