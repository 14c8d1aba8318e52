"""The providers' own usage and cost reports, read into lines Meterway can compare with its
ledger (billing/proof/reconcile.py). Pure: the pages arrive already fetched and JSON-decoded with
`parse_float=Decimal`, so no amount ever passes through a float.

Shapes, from the providers' references:

- OpenAI's organization Usage API (`GET /v1/organization/usage/completions`, `.../embeddings`)
  and Costs API (`GET /v1/organization/costs`): the `openai` SDK's
  `types/admin/organization/usage_completions_response.py` (`Data` buckets with unix
  `start_time`; results `organization.usage.completions.result` with `input_tokens`, which
  *includes* cached and cache-write tokens, `input_cached_tokens`, `input_cache_write_tokens`,
  `input_uncached_tokens`, `output_tokens`, `api_key_id`, `model`;
  `organization.usage.embeddings.result` with `input_tokens`; `organization.costs.result`
  with `amount.value` in USD, `api_key_id`, `line_item`), and `usage_costs_params.py`,
  whose example line item is "MODEL, KIND" (`gpt-6-astra, input_tokens`).
- Anthropic's Admin API (`GET /v1/organizations/usage_report/messages`,
  `GET /v1/organizations/cost_report`), platform.claude.com/docs/en/api/admin/usage_report
  and .../admin/cost_report: buckets with RFC 3339 `starting_at`; usage results with
  `uncached_input_tokens`, `cache_read_input_tokens`,
  `cache_creation.ephemeral_5m_input_tokens` / `ephemeral_1h_input_tokens`,
  `output_tokens`, `api_key_id`, `workspace_id`, `model`; cost results with `amount`, a
  decimal string in cents ("123.45" is $1.23), `cost_type`, `token_type`, `model`,
  `workspace_id` (the cost report groups by workspace and description, never by key).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

# The kinds of tokens compared, each disjoint from the others (Meterway's ledger columns).
INPUT, CACHED, WRITE = "input", "cached_input", "cache_write"
WRITE_5M, WRITE_1H, OUTPUT = "cache_write_5m", "cache_write_1h", "output"
# Units beyond tokens, from OpenAI's images, audio_speeches and audio_transcriptions usage.
IMAGES, CHARACTERS, SECONDS = "images", "characters", "audio_seconds"
KINDS = (INPUT, CACHED, WRITE, WRITE_5M, WRITE_1H, OUTPUT, IMAGES, CHARACTERS, SECONDS)
# A usage result's `object` -> (the kind it counts, its field), for the unit endpoints.
UNIT_RESULTS = {
    "organization.usage.images.result": (IMAGES, "images"),
    "organization.usage.audio_speeches.result": (CHARACTERS, "characters"),
    "organization.usage.audio_transcriptions.result": (SECONDS, "seconds"),
}
OTHER = "other"  # a cost line whose kind of usage the report does not name as tokens

_DATED = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8})$")
MICROS_PER_CENT = Decimal(10_000)
MICROS_PER_USD = Decimal(1_000_000)
# The rounding each cost report is allowed, in micros a line, fixed and documented
# (docs/guides/reconciliation.md): never read from the digits an amount printed with, so a
# round `0.1` is a tenth of a dollar to the micro, not "somewhere between 0.05 and 0.15".
# OpenAI's Costs API writes USD as a JSON number with every digit of its float: a micro.
# Anthropic's cost report writes cents as a decimal string to the hundredth of a cent
# ("123.45"): half of that, 50 micros.
ROUNDING_MICROS = {"openai": Decimal(1), "anthropic": Decimal(50)}


class ReportError(ValueError):
    """A report that does not have the documented shape: the run stops rather than compare
    against a made-up zero."""


@dataclass(frozen=True, slots=True)
class Slot:
    """One upstream credential's UTC day and model: where the two sides are compared."""

    credential: str
    day: date
    model: str


@dataclass(frozen=True, slots=True)
class TokenLine:
    slot: Slot
    kind: str
    tokens: int


@dataclass(frozen=True, slots=True)
class CostLine:
    """A provider's cost in micros, exact (a fraction of a micro is kept), and the most its
    report's documented rounding can account for (ROUNDING_MICROS)."""

    slot: Slot
    kind: str
    micros: Decimal
    tolerance: Decimal


# Which Meterway credential an api_key_id belongs to (None: not Meterway's, left out).
Attribution = Callable[[str | None], str | None]


def attribution(credential: str, key_id: str) -> Attribution:
    """The usage of `key_id` is `credential`'s; with no key id, the whole organization's is
    (an organization that holds only Meterway's key)."""
    if not key_id:
        return lambda _key: credential
    return lambda key: credential if key == key_id else None


def model_name(model: object) -> str:
    """A model as both sides name it: the provider's dated snapshot
    (`gpt-4o-mini-2024-07-18`, `claude-sonnet-4-20250514`) without its date."""
    if not isinstance(model, str):
        return ""
    return _DATED.sub("", model)


def _count(obj: Mapping[str, Any], name: str) -> int:
    value = obj.get(name)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ReportError(f"{name} is not a token count: {value!r}")
    return value


def _buckets(page: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    data = page.get("data")
    if not isinstance(data, list) or not isinstance(page.get("has_more"), bool):
        raise ReportError("a report page needs `data` (a list) and `has_more`")
    return data


def _results(bucket: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    results = bucket.get("results")
    if not isinstance(results, list):
        raise ReportError("a bucket needs `results` (a list)")
    return [r for r in results if isinstance(r, dict)]


def _unix_day(bucket: Mapping[str, Any]) -> date:
    start = bucket.get("start_time")
    if isinstance(start, bool) or not isinstance(start, int):
        raise ReportError(f"start_time is not unix seconds: {start!r}")
    return datetime.fromtimestamp(start, UTC).date()


def _rfc3339_day(bucket: Mapping[str, Any]) -> date:
    start = bucket.get("starting_at")
    if not isinstance(start, str):
        raise ReportError(f"starting_at is not a timestamp: {start!r}")
    moment = datetime.fromisoformat(start.replace("Z", "+00:00"))
    return moment.astimezone(UTC).date()


def _lines(slot: Slot, counts: Mapping[str, int]) -> Iterator[TokenLine]:
    for kind, tokens in counts.items():
        if tokens:
            yield TokenLine(slot, kind, tokens)


def _attributed(
    page: Mapping[str, Any], day_of: Callable[[Mapping[str, Any]], date], who: Attribution
) -> Iterator[tuple[str, date, Mapping[str, Any]]]:
    """(credential, day, result) of each result of the page that is Meterway's."""
    for bucket in _buckets(page):
        day = day_of(bucket)
        for r in _results(bucket):
            credential = who(r.get("api_key_id"))
            if credential is not None:
                yield credential, day, r


def openai_usage(page: Mapping[str, Any], who: Attribution) -> list[TokenLine]:
    """A completions, embeddings, images, audio_speeches or audio_transcriptions usage
    page's counts by kind; `input_tokens` includes cached and cache-write tokens, which are
    taken out of it."""
    out: list[TokenLine] = []
    for credential, day, r in _attributed(page, _unix_day, who):
        slot = Slot(credential, day, model_name(r.get("model")))
        out.extend(_lines(slot, _openai_counts(r)))
    return out


def _openai_counts(r: Mapping[str, Any]) -> dict[str, int]:
    unit = UNIT_RESULTS.get(str(r.get("object")))
    if unit is not None:
        kind, name = unit
        return {kind: _count(r, name)}
    cached, written = _count(r, "input_cached_tokens"), _count(r, "input_cache_write_tokens")
    whole = _count(r, "input_tokens")
    if whole < cached + written:
        raise ReportError(f"input_tokens {whole} below its cached and written parts")
    counts = {INPUT: whole - cached - written, CACHED: cached, WRITE: written}
    return {**counts, OUTPUT: _count(r, "output_tokens")}


def anthropic_usage(page: Mapping[str, Any], who: Attribution) -> list[TokenLine]:
    """A Messages usage report page's tokens, cache writes by their time to live."""
    out: list[TokenLine] = []
    for credential, day, r in _attributed(page, _rfc3339_day, who):
        creation = r.get("cache_creation") or {}
        if not isinstance(creation, dict):
            raise ReportError(f"cache_creation is not an object: {creation!r}")
        counts = {
            INPUT: _count(r, "uncached_input_tokens"),
            CACHED: _count(r, "cache_read_input_tokens"),
            WRITE_5M: _count(creation, "ephemeral_5m_input_tokens"),
            WRITE_1H: _count(creation, "ephemeral_1h_input_tokens"),
            OUTPUT: _count(r, "output_tokens"),
        }
        out.extend(_lines(Slot(credential, day, model_name(r.get("model"))), counts))
    return out


def anthropic_workspaces(
    pages: Iterable[Mapping[str, Any]], who: Attribution
) -> dict[date, set[str]]:
    """Per day, the workspaces where the credential's key was the only key with usage, over
    every page of the report: the workspaces whose cost (the cost report knows no keys) is
    that key's alone."""
    keys: dict[tuple[date, str], set[str | None]] = {}
    for page in pages:
        for bucket in _buckets(page):
            day = _rfc3339_day(bucket)
            for r in _results(bucket):
                key = r.get("api_key_id")
                found = keys.setdefault((day, str(r.get("workspace_id"))), set())
                found.add(key if isinstance(key, str) else None)
    alone: dict[date, set[str]] = {}
    for (day, workspace), ids in keys.items():
        if len(ids) == 1 and who(next(iter(ids))) is not None:
            alone.setdefault(day, set()).add(workspace)
    return alone


def _decimal(value: object) -> Decimal:
    """An amount as the report wrote it: a decimal string or a JSON number decoded as a
    Decimal; a float (a decoder that lost the digits) is refused."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, str):
        try:
            parsed = Decimal(value.strip())
        except ArithmeticError as exc:
            raise ReportError(f"not a decimal amount: {value!r}") from exc
        if parsed.is_finite():
            return parsed
    raise ReportError(f"not an exact decimal amount: {value!r}")


# Anthropic's cost report token types (its `token_type`), as the kinds compared.
ANTHROPIC_TOKEN_TYPES = {
    "uncached_input_tokens": INPUT,
    "cache_read_input_tokens": CACHED,
    "cache_creation.ephemeral_5m_input_tokens": WRITE_5M,
    "cache_creation.ephemeral_1h_input_tokens": WRITE_1H,
    "output_tokens": OUTPUT,
}


def anthropic_costs(
    page: Mapping[str, Any], credential: str, workspaces: Mapping[date, set[str]]
) -> list[CostLine]:
    """A cost report page's USD lines of the workspaces that are the credential's alone
    (`anthropic_workspaces`), by model and token type; amounts are in cents."""
    out: list[CostLine] = []
    for bucket in _buckets(page):
        day = _rfc3339_day(bucket)
        for r in _results(bucket):
            if str(r.get("workspace_id")) not in workspaces.get(day, set()):
                continue
            if str(r.get("currency", "USD")).upper() != "USD":
                raise ReportError(f"a cost in {r.get('currency')!r}, not USD")
            cents = _decimal(r.get("amount"))
            kind = ANTHROPIC_TOKEN_TYPES.get(str(r.get("token_type")), OTHER)
            if r.get("cost_type") not in (None, "tokens"):
                kind = OTHER
            slot = Slot(credential, day, model_name(r.get("model")))
            out.append(CostLine(slot, kind, cents * MICROS_PER_CENT, ROUNDING_MICROS["anthropic"]))
    return out


# OpenAI's line items end in the kind of usage they bill ("MODEL, input_tokens").
OPENAI_LINE_KINDS = {
    "input": INPUT,
    "input_tokens": INPUT,
    "cached input": CACHED,
    "cached_input_tokens": CACHED,
    "input_cached_tokens": CACHED,
    "cache write": WRITE,
    "input_cache_write_tokens": WRITE,
    "output": OUTPUT,
    "output_tokens": OUTPUT,
}


def openai_line_item(line_item: object) -> tuple[str, str]:
    """(model, kind) of a costs line item; OTHER when its last part names no token kind."""
    if not isinstance(line_item, str) or ", " not in line_item:
        return "", OTHER
    model, _, word = line_item.rpartition(", ")
    return model_name(model), OPENAI_LINE_KINDS.get(word.strip().lower(), OTHER)


def openai_costs(page: Mapping[str, Any], who: Attribution) -> list[CostLine]:
    """A costs page (grouped by api_key_id and line_item) as USD lines by model and kind."""
    out: list[CostLine] = []
    for credential, day, r in _attributed(page, _unix_day, who):
        amount = r.get("amount")
        if not isinstance(amount, dict):
            continue
        if str(amount.get("currency", "usd")).lower() != "usd":
            raise ReportError(f"a cost in {amount.get('currency')!r}, not USD")
        usd = _decimal(amount.get("value"))
        item = r.get("line_item")
        model, kind = openai_line_item(item)
        if not model and isinstance(item, str):
            model = model_name(item)  # a line naming a model (or a product) and no kind
        slot = Slot(credential, day, model)
        out.append(CostLine(slot, kind, usd * MICROS_PER_USD, ROUNDING_MICROS["openai"]))
    return out
