"""The Keys page: list, create (the secret shown once), rotate, revoke, per-key limits, the
key's team, and spend anomalies (dashboard/anomalies.py: resume a paused key).

Forms become the same bodies the account API reads (`spec_of_body`, `quotas_field`) and go
through the same functions as /v1/account/keys (`create_key_for`, `rotate_for`,
`set_quotas_for`, `revoke_key`, `put_key_team`), so a form can do nothing the API would
refuse.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy, MultiMapping

from billing.grants import MCP_SCOPE, PROXY_SCOPES
from billing.money.display import SPEND, DollarsError, quota_limit
from billing.money.quotas import MAX_LIMIT, METRICS, WINDOWS
from gateway.errors import InvalidRequest, MeterwayError
from gateway.http import bodies
from gateway.http.appkeys import SETTINGS, STORE, TEAMS
from gateway.http.dashboard.anomalies import keys_page_extras
from gateway.http.dashboard.byok import keys_page_byok
from gateway.http.dashboard.people.session import BASE, account_principal
from gateway.http.dashboard.web import render
from gateway.http.fields import MAX_GRACE_S
from gateway.http.principal import (
    ACCOUNT_READ,
    KEYS_READ,
    KEYS_WRITE,
    ORG_WRITE,
    STATEMENTS_READ,
    USAGE_READ,
    USER_SCOPES,
    Principal,
)
from gateway.http.serialize import key_use_json
from gateway.http.shared.account_keys import (
    caller_grant,
    create_key_for,
    own_key,
    revoke_key_for,
    rotate_for,
    set_quotas_for,
    spec_of_body,
    visible_keys,
)
from gateway.http.shared.teams import put_key_team, team_of
from gateway.http.whole import ASCII_SPACE, parse_whole
from gateway.stores.records import Row

Form = MultiDictProxy[str | bytes | Any]
SCOPES = [*sorted(PROXY_SCOPES), MCP_SCOPE, *sorted(USER_SCOPES), "billing"]
# The key form's groups, in words people use; each checked group adds its scopes to the ones
# ticked one by one. The first, every proxy scope, is ticked by default.
SCOPE_GROUPS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    (
        "inference",
        "Call any model",
        "Chat, Responses, Messages, embeddings, images, audio, moderations and batches: "
        "what every SDK and coding agent needs.",
        tuple(sorted(PROXY_SCOPES)),
    ),
    (
        "tools",
        "Call MCP tools",
        "Every priced tool of the MCP servers this gateway serves, each call billed.",
        (MCP_SCOPE,),
    ),
    ("usage", "Read usage", "The account, its usage and ledger.", (ACCOUNT_READ, USAGE_READ)),
    ("keys", "Manage keys", "List, create, rotate and revoke keys.", (KEYS_READ, KEYS_WRITE)),
    (
        "billing",
        "Manage billing",
        "Credit, payment methods, plans and statements.",
        ("billing", STATEMENTS_READ),
    ),
)
QUOTA_ROWS = 3
LIMIT_WORDS = "Each limit must be a whole number."
GRACE_WORDS = f"The grace period must be a whole number of seconds from 0 to {MAX_GRACE_S}."


def form_text(form: MultiMapping[Any], name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def form_quotas(form: Form) -> list[dict[str, Any]]:
    """Rows window_N / metric_N / limit_N; a row with an empty limit is no quota; a spend
    limit is typed in dollars."""
    out: list[dict[str, Any]] = []
    for i in range(QUOTA_ROWS + 16):
        raw = form.get(f"limit_{i}", "")
        limit = raw.strip(ASCII_SPACE) if isinstance(raw, str) else ""
        if not limit:
            continue
        metric, whole = _quota_limit(form_text(form, f"metric_{i}"), limit, i)
        out.append({"window": form_text(form, f"window_{i}"), "metric": metric, "limit": whole})
    return out


def _quota_limit(metric: str, limit: str, i: int) -> tuple[str, int]:
    """A spend limit in dollars (billing/money/display.py), every other limit a whole number
    (gateway/http/whole.py)."""
    if metric != SPEND:
        return metric, parse_whole(limit, f"limit_{i}", maximum=MAX_LIMIT, words=LIMIT_WORDS)
    try:
        return quota_limit(metric, limit)
    except DollarsError as exc:
        raise InvalidRequest(str(exc), param="quotas") from exc


def _form_scopes(form: Form, held: frozenset[str]) -> list[str]:
    """The scopes of the groups checked that the caller holds (`held`, empty: all), then
    the ones ticked one by one (refused when the caller does not hold them), each once."""
    groups = {g for g in form.getall("groups", []) if isinstance(g, str)}
    grouped = [
        scope
        for name, _, _, scopes in SCOPE_GROUPS
        if name in groups
        for scope in scopes
        if not held or scope in held
    ]
    single = [s for s in form.getall("scopes", []) if isinstance(s, str)]
    return list(dict.fromkeys(grouped + single))


def key_body(form: Form, held: frozenset[str]) -> dict[str, object]:
    models = [m.strip() for m in form_text(form, "models").split(",") if m.strip()]
    expires = form_text(form, "expires")
    body: dict[str, object] = {
        "name": form_text(form, "name"),
        "scopes": _form_scopes(form, held),
        "models": models,
        "quotas": form_quotas(form),
    }
    if expires:
        body["expires_at"] = expires  # the end of that day in QUOTA_TIMEZONE
    return body


def typed_key(form: Form) -> dict[str, Any]:
    """The key form as it was typed, for the form drawn again after a refusal: every field,
    every ticked box and each limit's row (a spend limit as the dollars typed)."""
    rows = []
    for i in range(QUOTA_ROWS):
        metric = form_text(form, f"metric_{i}")
        rows.append({"window": form_text(form, f"window_{i}"),
                     "metric": "spend_micros" if metric == SPEND else metric,
                     "typed": form_text(form, f"limit_{i}")})  # fmt: skip
    ticked = {
        n: [v for v in form.getall(n, []) if isinstance(v, str)] for n in ("groups", "scopes")
    }
    fields = {n: form_text(form, n) for n in ("name", "models", "expires", "team_id")}
    return fields | ticked | {"rows": rows}


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
    flagged = await keys_page_extras(request, who, [r["id"] for r in rows])
    own = await keys_page_byok(request, who)
    now = datetime.fromtimestamp(await request.config_dict[STORE].now_ms() / 1000, UTC)
    return render(
        request,
        "keys.html",
        status=status,
        title="Keys",
        nav="keys",
        keys=one_card_per_key([_shown(r, now) for r in rows]),
        scopes=SCOPES,
        scope_groups=SCOPE_GROUPS,
        windows=WINDOWS,
        metrics=METRICS,
        quota_rows=QUOTA_ROWS,
        can_write=who.has(KEYS_WRITE),
        can_team=who.has(ORG_WRITE),
        teams=await _teams(request, who),
        account_quotas=await request.config_dict[STORE].account_quotas(who.account_id),
        notice=request.query.get("notice", ""),
        **flagged,
        **own,
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
        held = (await caller_grant(request, who)).scopes
        zone = request.config_dict[SETTINGS].timezone
        spec = spec_of_body(key_body(form, held), zone=zone)
        created = await create_key_for(request, who, spec)
        if team:
            await put_key_team(request, who.account_id, created["id"], team)
    except MeterwayError as exc:
        return await _page(request, status=exc.status, error=exc.message, typed=typed_key(form))
    return render(request, "secret.html", title="New key", nav="keys", key=created, fresh=True)


async def rotate(request: web.Request) -> web.Response:
    who = account_principal(request)
    who.require(KEYS_WRITE)
    row = await own_key(request, who, request.match_info["key_id"])
    form = await request.post()
    default = request.config_dict[SETTINGS].key_rotation_grace_s
    raw = form.get("grace")
    try:
        grace = default
        if isinstance(raw, str) and raw.strip(ASCII_SPACE):
            grace = parse_whole(raw, "grace", maximum=MAX_GRACE_S, form=True, words=GRACE_WORDS)
        rotated = await rotate_for(request, who, row, grace)
    except MeterwayError as exc:
        return await _failed(request, exc)
    return render(request, "secret.html", title="Rotated key", nav="keys", key=rotated, fresh=False)


async def revoke(request: web.Request) -> web.Response:
    who = account_principal(request)
    who.require(KEYS_WRITE)
    row = await own_key(request, who, request.match_info["key_id"])
    await revoke_key_for(request, row)
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
