"""The Keys page: list, create (the secret shown once), rotate, revoke, per-key limits and
the key's team.

Forms become the same bodies the account API reads (`spec_of_body`, `quotas_field`) and go
through the same functions as /v1/account/keys (`create_key_for`, `rotate_for`,
`set_quotas_for`, `revoke_key`, `put_key_team`), so a form can do nothing the API would
refuse.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from billing.display import DollarsError, quota_limit
from billing.grants import PROXY_SCOPES
from billing.quotas import METRICS, WINDOWS
from gateway.appkeys import LEDGER, SETTINGS, STORE, TEAMS
from gateway.errors import InvalidRequest, MeterwayError
from gateway.http import bodies
from gateway.http.account import (
    create_key_for,
    own_key,
    rotate_for,
    set_quotas_for,
    spec_of_body,
    visible_keys,
)
from gateway.http.dashboard.session import BASE, account_principal
from gateway.http.dashboard.web import render
from gateway.http.principal import (
    ACCOUNT_READ,
    KEYS_READ,
    KEYS_WRITE,
    ORG_WRITE,
    USER_SCOPES,
    Principal,
)
from gateway.http.serialize import key_use_json
from gateway.http.teams import put_key_team, team_of
from gateway.services.keys import revoke_key
from gateway.stores.records import Row

Form = MultiDictProxy[str | bytes | Any]
SCOPES = sorted(PROXY_SCOPES) + sorted(USER_SCOPES) + ["billing"]
QUOTA_ROWS = 3


def form_text(form: Form, name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def form_quotas(form: Form) -> list[dict[str, Any]]:
    """Rows window_N / metric_N / limit_N; a row with an empty limit is no quota; a spend
    limit is typed in dollars."""
    out: list[dict[str, Any]] = []
    for i in range(QUOTA_ROWS + 16):
        typed = form_text(form, f"limit_{i}")
        if not typed:
            continue
        try:
            metric, limit = quota_limit(form_text(form, f"metric_{i}"), typed)
        except DollarsError as exc:
            raise InvalidRequest(str(exc), param="quotas") from exc
        out.append({"window": form_text(form, f"window_{i}"), "metric": metric, "limit": limit})
    return out


def _key_body(form: Form) -> dict[str, object]:
    models = [m.strip() for m in form_text(form, "models").split(",") if m.strip()]
    expires = form_text(form, "expires")
    body: dict[str, object] = {
        "name": form_text(form, "name"),
        "scopes": [s for s in form.getall("scopes", []) if isinstance(s, str)],
        "models": models,
        "quotas": form_quotas(form),
    }
    if expires:
        body["expires_at"] = expires  # the end of that day in QUOTA_TIMEZONE
    return body


def _shown(row: Row, now: datetime) -> dict[str, Any]:
    """A key as the API lists it, and whether it has expired (a rotated key's old secret)."""
    expired = row["expires_at"] is not None and row["expires_at"] <= now
    return {**key_use_json(row), "expired": expired, "team_id": row.get("team_id")}


def one_card_per_key(keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A rotated key is one card: the new secret's, naming the old one while it still works
    (its `previous`); the old row, identical but for its prefix, is not a card of its own."""
    by_id = {k["id"]: k for k in keys}
    replaced = {k["rotated_from"] for k in keys if k["rotated_from"] in by_id}
    cards = []
    for k in keys:
        if k["id"] in replaced:
            continue
        old = by_id.get(k["rotated_from"] or "")
        cards.append({**k, "previous": old if old and not old["expired"] else None})
    return cards


async def _page(request: web.Request, *, status: int = 200, **extra: Any) -> web.Response:
    who = account_principal(request)
    who.require(KEYS_READ)
    rows = await visible_keys(request, who)
    now = datetime.fromtimestamp(await request.config_dict[STORE].now_ms() / 1000, UTC)
    return render(
        request,
        "keys.html",
        status=status,
        title="Keys",
        nav="keys",
        keys=one_card_per_key([_shown(r, now) for r in rows]),
        scopes=SCOPES,
        windows=WINDOWS,
        metrics=METRICS,
        quota_rows=QUOTA_ROWS,
        can_write=who.has(KEYS_WRITE),
        can_team=who.has(ORG_WRITE),
        teams=await _teams(request, who),
        account_quotas=await request.config_dict[STORE].account_quotas(who.account_id),
        notice=request.query.get("notice", ""),
        **extra,
    )


async def _teams(request: web.Request, who: Principal) -> dict[str, str]:
    """The organization's teams by id, for the caller who reads the account."""
    if not who.has(ACCOUNT_READ):
        return {}
    return {t["id"]: t["name"] for t in await request.config_dict[TEAMS].of_account(who.account_id)}


async def keys_page(request: web.Request) -> web.Response:
    return await _page(request)


async def _failed(request: web.Request, exc: MeterwayError) -> web.Response:
    return await _page(request, status=exc.status, error=exc.message)


async def create(request: web.Request) -> web.Response:
    who = account_principal(request)
    who.require(KEYS_WRITE)
    form = await request.post()
    team = form_text(form, "team_id")
    try:
        if team:  # the team is checked before the key exists: no key made half-way
            who.require(ORG_WRITE)
            await team_of(request, who.account_id, team)
        spec = spec_of_body(_key_body(form), zone=request.config_dict[SETTINGS].timezone)
        created = await create_key_for(request, who, spec)
        if team:
            await put_key_team(request, who.account_id, created["id"], team)
    except MeterwayError as exc:
        return await _failed(request, exc)
    return render(request, "secret.html", title="New key", nav="keys", key=created, fresh=True)


async def rotate(request: web.Request) -> web.Response:
    who = account_principal(request)
    who.require(KEYS_WRITE)
    row = await own_key(request, who, request.match_info["key_id"])
    form = await request.post()
    default = request.config_dict[SETTINGS].key_rotation_grace_s
    try:
        grace = bodies.int_field({"g": int(form_text(form, "grace") or default)}, "g", 0, 7 * 86400)
        rotated = await rotate_for(request, who, row, grace)
    except (MeterwayError, ValueError) as exc:
        return await _failed(request, _as_error(exc))
    return render(request, "secret.html", title="Rotated key", nav="keys", key=rotated, fresh=False)


def _as_error(exc: Exception) -> MeterwayError:
    if isinstance(exc, MeterwayError):
        return exc
    return InvalidRequest("The grace period must be a whole number of seconds.")


async def revoke(request: web.Request) -> web.Response:
    who = account_principal(request)
    who.require(KEYS_WRITE)
    row = await own_key(request, who, request.match_info["key_id"])
    app = request.config_dict
    await revoke_key(app[LEDGER], app[STORE], row)
    raise web.HTTPSeeOther(f"{BASE}/keys?notice=revoked")


async def limits(request: web.Request) -> web.Response:
    who = account_principal(request)
    who.require(KEYS_WRITE)
    row = await own_key(request, who, request.match_info["key_id"])
    try:
        quotas = bodies.quotas_field({"quotas": form_quotas(await request.post())})
        await set_quotas_for(request, who, row, quotas)
    except MeterwayError as exc:
        return await _failed(request, exc)
    raise web.HTTPSeeOther(f"{BASE}/keys?notice=limits")


async def team(request: web.Request) -> web.Response:
    """Put a key in one of the organization's teams, or in none (an empty choice)."""
    who = account_principal(request)
    who.require(ORG_WRITE)
    row = await own_key(request, who, request.match_info["key_id"])
    wanted = form_text(await request.post(), "team_id") or None
    try:
        await put_key_team(request, who.account_id, row["id"], wanted)
    except MeterwayError as exc:
        return await _failed(request, exc)
    raise web.HTTPSeeOther(f"{BASE}/keys?notice=team")
