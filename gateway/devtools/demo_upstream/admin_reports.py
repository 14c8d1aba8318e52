"""The providers' own usage and cost reports, served by the demo provider from what it was
actually sent: every call it answered is kept (`UpstreamControl.served`) with the key it
came with and the usage it counted, and these routes sum them the way the real reports do.

- OpenAI: `GET /v1/organization/usage/{completions,embeddings}` and `/v1/organization/costs`
  (unix `start_time`/`end_time`, `bucket_width` 1d or 1h (costs: 1d), `group_by[]` of
  `api_key_id` and `model` (costs: `api_key_id`, `line_item`), `limit` buckets a page,
  `page` / `has_more` / `next_page`); amounts are JSON numbers in USD.
- Anthropic: `GET /v1/organizations/usage_report/messages` and `/v1/organizations/cost_report`
  (RFC 3339 `starting_at`/`ending_at`, the same paging, `group_by[]` of `api_key_id`,
  `workspace_id`, `model`, `service_tier` (costs: `workspace_id`, `description`)); amounts
  are decimal strings in cents.

A key's id is derived from the key (`key_id`), each Anthropic key in a workspace of its own
unless `control.workspaces` says otherwise. Costs use `control.report_prices` (model -> kind
-> USD per 1M tokens); `control.cached_billed_as_input` (models) plays a provider that over-bills
cached tokens at the input rate. `control.report_page_buckets` caps the buckets a page
holds, so paging is exercised. `control.report_status` makes every report route fail with
that status, a 401's body repeating the key it was sent, as OpenAI's "Incorrect API key
provided" does. OpenAI's amounts are JSON numbers written as its floats print (`0.1`).
Shapes: billing/proof/provider_reports.py's sources.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from gateway.devtools.demo_upstream.calls import CONTROL
from gateway.devtools.demo_upstream.control import JSON, Served, UpstreamControl, api_key_of

BUCKETS = {"1d": 86400, "1h": 3600}
MILLION = Decimal(1_000_000)
_DEC = re.compile(r'"__decimal__([-0-9.E+]+)"')


def key_id(wire: str, api_key: str) -> str:
    """The provider's id of an api key: OpenAI's `key_...`, Anthropic's `apikey_...`."""
    digest = hashlib.sha256(api_key.encode()).hexdigest()[:20]
    return ("apikey_01" if wire == "anthropic" else "key_") + digest


def _dumps(obj: Any) -> str:
    """JSON whose Decimals are written as numbers with every digit (OpenAI's amounts)."""

    def default(value: object) -> str:
        if isinstance(value, Decimal):
            return f"__decimal__{value:f}"
        raise TypeError(type(value).__name__)

    return _DEC.sub(r"\1", json.dumps(obj, default=default))


def _reply(obj: JSON) -> web.Response:
    return web.Response(text=_dumps(obj), content_type="application/json")


Handler = Callable[[web.Request], Awaitable[web.Response]]


def _failing(handler: Handler) -> Handler:
    """The report route, answering `control.report_status` first when one is set."""

    async def route(request: web.Request) -> web.Response:
        status = request.app[CONTROL].report_status
        if status is None:
            return await handler(request)
        said = "the server had an error while processing your request"
        if status == 401:
            said = f"Incorrect API key provided: {api_key_of(request.headers)}"
        body = {"error": {"message": said, "type": "error"}}
        return web.json_response(body, status=status)

    return route


def _usd_float(usd: Decimal) -> Decimal:
    """An amount as OpenAI's Costs API writes it: the shortest digits of its float."""
    return Decimal(repr(float(usd)))


@dataclass(frozen=True, slots=True)
class Window:
    start: int  # unix seconds, inclusive
    end: int  # exclusive
    width: int
    groups: tuple[str, ...]
    limit: int
    page: int


def _unix(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def _window(request: web.Request, control: UpstreamControl, anthropic: bool) -> Window:
    q = request.query
    try:
        if anthropic:
            start = _unix(q["starting_at"])
            end = _unix(q["ending_at"]) if "ending_at" in q else start + 7 * 86400
        else:
            start = int(q["start_time"])
            end = int(q["end_time"]) if "end_time" in q else start + 7 * 86400
        width = BUCKETS[q.get("bucket_width", "1d")]
        limit = int(q.get("limit", "7"))
    except (KeyError, ValueError) as exc:
        raise web.HTTPBadRequest(text=f"bad report query: {exc}") from exc
    groups = tuple(q.getall("group_by[]", []))
    limit = min(limit, control.report_page_buckets or limit)
    page = int(q.get("page", "page_0").removeprefix("page_"))
    return Window(start - start % width, end, width, groups, limit, page)


def _in(window: Window, served: Iterable[Served], wire: str, what: str) -> Iterator[Served]:
    return (
        s
        for s in served
        if s.wire == wire and s.endpoint == what and window.start <= s.at < window.end
    )


def _paged(window: Window, buckets: list[JSON], reply: Callable[[JSON], JSON]) -> web.Response:
    first = window.page * window.limit
    shown = buckets[first : first + window.limit]
    more = first + window.limit < len(buckets)
    page = {"data": [reply(b) for b in shown], "has_more": more}
    page["next_page"] = f"page_{window.page + 1}" if more else None
    return _reply(page)


def _bucketed(
    window: Window, rows: Iterable[tuple[int, tuple[Any, ...], Mapping[str, Any]]]
) -> list[JSON]:
    """Rows (time, group key, amounts) summed into every bucket of the window, empty ones
    too, each {"start", "end", "results": {group: amounts}}."""
    sums: list[dict[tuple[Any, ...], dict[str, Any]]] = [
        {} for _ in range(window.start, window.end, window.width)
    ]
    for at, group, amounts in rows:
        into = sums[(at - window.start) // window.width].setdefault(group, {})
        for name, value in amounts.items():
            into[name] = into.get(name, 0) + value
    starts = range(window.start, window.end, window.width)
    return [
        {"start": t, "end": t + window.width, "results": r}
        for t, r in zip(starts, sums, strict=True)
    ]


def _group(window: Window, fields: Mapping[str, object]) -> tuple[Any, ...]:
    return tuple((name, fields[name] if name in window.groups else None) for name in fields)


# --- OpenAI ----------------------------------------------------------------------------


def _openai_bucket(b: JSON, results: list[JSON]) -> JSON:
    return {"object": "bucket", "start_time": b["start"], "end_time": b["end"], "results": results}


# The unit endpoints: what each counts, as the fake kept it in `Served.usage`.
UNITS = {"images": "images", "audio_speeches": "characters", "audio_transcriptions": "seconds"}


def _openai_tokens(s: Served) -> dict[str, int]:
    u = s.usage
    if s.endpoint in UNITS:
        return {UNITS[s.endpoint]: int(u.get(UNITS[s.endpoint], 0))}
    if s.endpoint == "embeddings":
        return {"input_tokens": int(u.get("prompt_tokens", 0))}
    details = u.get("prompt_tokens_details") or {}
    return {
        "input_tokens": int(u.get("prompt_tokens", 0)),
        "input_cached_tokens": int(details.get("cached_tokens", 0)),
        "input_cache_write_tokens": int(details.get("cache_write_tokens", 0)),
        "output_tokens": int(u.get("completion_tokens", 0)),
        "num_model_requests": 1,
    }


async def openai_usage(request: web.Request) -> web.Response:
    """GET /v1/organization/usage/{completions,embeddings}."""
    control = request.app[CONTROL]
    what = request.match_info["what"]
    window = _window(request, control, anthropic=False)
    rows = (
        (int(s.at), _group(window, {"api_key_id": key_id("openai", s.api_key), "model": s.model}),
         {**_openai_tokens(s), "num_model_requests": 1})
        for s in _in(window, control.served, "openai", what)
    )  # fmt: skip
    kind = f"organization.usage.{what}.result"

    def bucket(b: JSON) -> JSON:
        return _openai_bucket(
            b, [{"object": kind, **dict(g), **a} for g, a in b["results"].items()]
        )

    return _paged(window, _bucketed(window, rows), bucket)


def _priced(control: UpstreamControl, model: str, kind: str, tokens: int) -> Decimal:
    prices = control.report_prices.get(model, {})
    if kind == "cached_input" and model in control.cached_billed_as_input:
        kind = "input"
    return Decimal(prices.get(kind, "0")) * tokens / MILLION


OPENAI_LINES = (("input", "input"), ("cached_input", "cached input"), ("output", "output"))


def _openai_kinds(s: Served) -> dict[str, int]:
    if s.endpoint in UNITS:
        return {}
    t = _openai_tokens(s)
    cached, written = t.get("input_cached_tokens", 0), t.get("input_cache_write_tokens", 0)
    uncached = t["input_tokens"] - cached - written
    return {"input": uncached, "cached_input": cached, "output": t.get("output_tokens", 0)}


async def openai_costs(request: web.Request) -> web.Response:
    """GET /v1/organization/costs: each model's tokens at `report_prices`, line item
    "MODEL, input" / "MODEL, cached input" / "MODEL, output"."""
    control = request.app[CONTROL]
    window = _window(request, control, anthropic=False)
    rows = []
    for what in ("completions", "embeddings"):
        for s in _in(window, control.served, "openai", what):
            for kind, word in OPENAI_LINES:
                tokens = _openai_kinds(s).get(kind, 0)
                if not tokens or s.model not in control.report_prices:
                    continue
                fields = {
                    "api_key_id": key_id("openai", s.api_key),
                    "line_item": f"{s.model}, {word}",
                }
                rows.append(
                    (
                        int(s.at),
                        _group(window, fields),
                        {"usd": _priced(control, s.model, kind, tokens)},
                    )
                )

    def bucket(b: JSON) -> JSON:
        results = [
            {"object": "organization.costs.result", "project_id": None, **dict(g),
             "amount": {"value": _usd_float(a["usd"]), "currency": "usd"}}
            for g, a in b["results"].items()
        ]  # fmt: skip
        return _openai_bucket(b, results)

    return _paged(window, _bucketed(window, rows), bucket)


# --- Anthropic -------------------------------------------------------------------------


def _anthropic_kinds(s: Served) -> dict[str, int]:
    u = s.usage
    written = int(u.get("cache_creation_input_tokens", 0))
    hour = int((u.get("cache_creation") or {}).get("ephemeral_1h_input_tokens", 0))
    return {
        "uncached_input_tokens": int(u.get("input_tokens", 0)),
        "cache_read_input_tokens": int(u.get("cache_read_input_tokens", 0)),
        "cache_creation.ephemeral_5m_input_tokens": written - hour,
        "cache_creation.ephemeral_1h_input_tokens": hour,
        "output_tokens": int(u.get("output_tokens", 0)),
    }


def _workspace(control: UpstreamControl, api_key: str) -> str:
    return control.workspaces.get(api_key) or "wrkspc_" + key_id("anthropic", api_key)[9:]


def _iso(at: int) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


async def anthropic_usage(request: web.Request) -> web.Response:
    """GET /v1/organizations/usage_report/messages."""
    control = request.app[CONTROL]
    window = _window(request, control, anthropic=True)
    rows = (
        (int(s.at), _group(window, {
            "api_key_id": key_id("anthropic", s.api_key),
            "workspace_id": _workspace(control, s.api_key),
            "model": s.model, "service_tier": "standard", "context_window": "0-200k",
        }), _anthropic_kinds(s))
        for s in _in(window, control.served, "anthropic", "messages")
    )  # fmt: skip

    def bucket(b: JSON) -> JSON:
        results = []
        for g, a in b["results"].items():
            creation = {
                "ephemeral_5m_input_tokens": a["cache_creation.ephemeral_5m_input_tokens"],
                "ephemeral_1h_input_tokens": a["cache_creation.ephemeral_1h_input_tokens"],
            }
            results.append({
                **dict(g), "uncached_input_tokens": a["uncached_input_tokens"],
                "cache_read_input_tokens": a["cache_read_input_tokens"],
                "cache_creation": creation, "output_tokens": a["output_tokens"],
                "server_tool_use": {"web_search_requests": 0},
            })  # fmt: skip
        return {"starting_at": _iso(b["start"]), "ending_at": _iso(b["end"]), "results": results}

    return _paged(window, _bucketed(window, rows), bucket)


ANTHROPIC_KINDS = {
    "uncached_input_tokens": "input",
    "cache_read_input_tokens": "cached_input",
    "cache_creation.ephemeral_5m_input_tokens": "cache_write",
    "cache_creation.ephemeral_1h_input_tokens": "cache_write_1h",
    "output_tokens": "output",
}


COST_FIELDS = ("model", "token_type", "cost_type", "description")


async def anthropic_costs(request: web.Request) -> web.Response:
    """GET /v1/organizations/cost_report: amounts in cents, as decimal strings."""
    control = request.app[CONTROL]
    window = _window(request, control, anthropic=True)
    described = "description" in window.groups
    rows = []
    for s in _in(window, control.served, "anthropic", "messages"):
        if s.model not in control.report_prices:
            continue
        for token_type, tokens in _anthropic_kinds(s).items():
            kind = ANTHROPIC_KINDS[token_type]
            space = _workspace(control, s.api_key) if "workspace_id" in window.groups else None
            described_as = (s.model, token_type, "tokens", f"{s.model} {token_type}")
            said = described_as if described else (None, None, None, None)
            group = (("workspace_id", space), *zip(COST_FIELDS, said, strict=True))
            cents = _priced(control, s.model, kind, tokens) * 100
            rows.append((int(s.at), group, {"cents": cents}))

    def bucket(b: JSON) -> JSON:
        results = [
            {**dict(g), "amount": f"{a['cents']:f}", "currency": "USD", "service_tier": "standard",
             "context_window": "0-200k"}
            for g, a in b["results"].items()
        ]  # fmt: skip
        return {"starting_at": _iso(b["start"]), "ending_at": _iso(b["end"]), "results": results}

    return _paged(window, _bucketed(window, rows), bucket)


def add_routes(app: web.Application) -> None:
    app.router.add_get(
        "/v1/organization/usage/{what:completions|embeddings|images|audio_speeches|audio_transcriptions}",
        _failing(openai_usage),
    )
    app.router.add_get("/v1/organization/costs", _failing(openai_costs))
    app.router.add_get("/v1/organizations/usage_report/messages", _failing(anthropic_usage))
    app.router.add_get("/v1/organizations/cost_report", _failing(anthropic_costs))
