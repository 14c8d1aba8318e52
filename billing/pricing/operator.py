"""config/pricing.toml: the operator's layer over the catalogue.

A `[models."NAME"]` table routes a model (provider, upstream name, aliases, output cap,
encoding) and may price it: rates of its own (a model the catalogue lacks, a negotiated
price), `catalogue = "ID"` to take another catalogue model's prices, or neither, to take the
catalogue's prices for NAME itself. Rates are decimal strings, USD per 1M tokens (per call
for the per-call fields), held as integer micro-USD per the unit's `per`; a rate that is not
exact to the micro-dollar fails the boot, never rounded. Dated prices are a list of
`[[models."NAME".prices]]` tables, each with `from = "YYYY-MM-DD"` (UTC midnight).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from billing.money.micros import MoneyFormatError, parse_usd
from billing.names import one_of
from billing.pricing.card import Tiered, compile_card
from billing.pricing.errors import PricingError
from billing.pricing.model import ModelKind, ModelPrice, Period
from billing.pricing.units import IMAGE_QUALITIES, IMAGE_SIZES, image_key

KINDS: frozenset[str] = frozenset(
    {"chat", "completion", "embedding", "moderation", "image", "transcription", "speech"}
)
# Kinds priced in tokens: their rates must name an input price (and, but embeddings, output).
TOKEN_KINDS = frozenset({"chat", "completion", "embedding"})
ENCODINGS = frozenset({"cl100k_base", "o200k_base"})
DEFAULT_IMAGE_TOKENS = {"anthropic": 1600}  # upper bound of one input image, in tokens
IMAGE_TOKENS_FALLBACK = 3800
# Token rate fields (USD per 1M) and the catalogue price key each sets.
TOKEN_RATES = {
    "input": "input_mtok",
    "cached_input": "cache_read_mtok",
    "cache_write": "cache_write_mtok",
    "cache_write_1h": "cache_write_1h_mtok",
    "output": "output_mtok",
    "input_audio": "input_audio_mtok",
    "cached_audio": "cache_audio_read_mtok",
    "output_audio": "output_audio_mtok",
    "input_image": "input_image_mtok",
    "output_image": "output_image_mtok",
}
# Per-call fields (USD per call) and the per-1k price key each sets.
CALL_RATES = {
    "web_search": "web_searches_kcount",
    "file_search": "storage_searches_kcount",
    "request": "requests_kcount",
}
# Rates of units other than tokens and calls: field -> (price key, micro-USD per `per` for
# one micro-USD per the field's unit).
UNIT_RATES = {
    "audio_minute": ("audio_hours", 60),  # USD per minute of audio
    "characters": ("input_mchars", 1),  # USD per 1M input characters
}
IMAGES = "images"  # { "SIZE/QUALITY" = "USD per image" }
RATE_FIELDS = frozenset(TOKEN_RATES) | frozenset(CALL_RATES) | frozenset(UNIT_RATES) | {IMAGES}
TOOL_FIELDS = {"web_search_call": "web_search", "file_search_call": "file_search"}
ROUTING = frozenset(
    {"provider", "kind", "max_output_tokens", "encoding", "upstream", "aliases"}
    | {"image_max_tokens", "catalogue", "deployments"}
)
PRICE_PARTS = frozenset({"service_tiers", "tiers"})
FIELDS = ROUTING | RATE_FIELDS | PRICE_PARTS | {"prices"}


@dataclass(frozen=True, slots=True)
class Route:
    """How a model is reached and sized, whoever prices it."""

    name: str
    provider: str
    kind: ModelKind
    upstream: str
    max_output_tokens: int | None  # None: the catalogue's bound, if it prices the model
    encoding: str
    image_max_tokens: int
    aliases: tuple[str, ...]
    catalogue: str | None  # the catalogue model to price it by, if it has no rates
    priced: bool  # it has rates of its own


def _usd(raw: object, where: str) -> int:
    if not isinstance(raw, str):
        raise PricingError(f"model {where}: must be a decimal string, got {raw!r}")
    try:
        value = parse_usd(raw)
    except MoneyFormatError as exc:
        raise PricingError(f"model {where}: {exc}") from exc
    if value < 0:
        raise PricingError(f"model {where}: is negative")
    return value


def _rates(entry: Mapping[str, object], where: str, tools: Mapping[str, int]) -> dict[str, int]:
    """Price key -> micro-USD per the unit's `per`, for the rate fields `entry` sets."""
    rates = {TOKEN_RATES[f]: _usd(entry[f], f"{where}: {f!r}") for f in TOKEN_RATES if f in entry}
    for field, key in CALL_RATES.items():
        per_call = tools.get(field) if field not in entry else None
        if field in entry:
            per_call = _usd(entry[field], f"{where}: {field!r}")
        if per_call is not None:
            rates[key] = per_call * 1000
    for field, (key, factor) in UNIT_RATES.items():
        if field in entry:
            rates[key] = _usd(entry[field], f"{where}: {field!r}") * factor
    rates.update(_image_rates(entry.get(IMAGES), where))
    if not rates:
        raise PricingError(f"model {where}: no rates (set 'input', or this kind's own)")
    return rates


def _image_rates(raw: object, where: str) -> dict[str, int]:
    """`images = { "1024x1024/hd" = "0.08" }`: USD per image of a size and quality."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise PricingError(f"model {where}: 'images' must be a table of \"SIZE/QUALITY\" prices")
    rates = {}
    for name, usd in raw.items():
        size, _, quality = str(name).partition("/")
        if size not in IMAGE_SIZES or quality not in IMAGE_QUALITIES:
            raise PricingError(
                f"model {where}: images {name!r}: not SIZE/QUALITY of {list(IMAGE_SIZES)} and"
                f" {list(IMAGE_QUALITIES)}"
            )
        rates[image_key(size, quality)] = _usd(usd, f"{where}: images {name!r}")
    return rates


def _tiers(entry: Mapping[str, object], where: str) -> list[tuple[int, Mapping[str, object]]]:
    raw = entry.get("tiers", [])
    if not isinstance(raw, list):
        raise PricingError(f"model {where}: tiers must be a list of tables")
    tiers = []
    for tier in raw:
        above = tier.get("above") if isinstance(tier, dict) else None
        if isinstance(above, bool) or not isinstance(above, int) or above < 0:
            raise PricingError(f"model {where}: each tier needs a whole 'above'")
        if set(tier) - RATE_FIELDS - {"above"}:
            raise PricingError(f"model {where}: a tier holds only 'above' and rate fields")
        tiers.append((above, tier))
    return sorted(tiers, key=lambda t: t[0])


def _tiered(entry: Mapping[str, object], where: str, tools: Mapping[str, int]) -> dict[str, Tiered]:
    """Base rates plus context-length tiers; a tier names the rates it changes."""
    base = _rates(entry, where, tools)
    tiers = [
        (above, _rates({**entry, **tier}, where, tools)) for above, tier in _tiers(entry, where)
    ]
    return {
        k: (v, tuple((above, r[k]) for above, r in tiers if r[k] != v)) for k, v in base.items()
    }


def _service_tiers(
    entry: Mapping[str, object], where: str, tools: Mapping[str, int]
) -> dict[str, dict[str, Tiered]]:
    raw = entry.get("service_tiers", {})
    if not isinstance(raw, dict):
        raise PricingError(f"model {where}: service_tiers must be a table of tiers")
    out = {"": _tiered(entry, where, tools)}
    for tier, rates in raw.items():
        if not isinstance(rates, dict) or set(rates) - RATE_FIELDS:
            raise PricingError(f"model {where}/{tier}: a tier holds only rate fields")
        out[tier] = _tiered({**entry, **rates}, f"{where}/{tier}", tools)
    return out


def _start_ms(raw: object, where: str) -> int:
    try:
        day = date.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        day = None
    if day is None:
        raise PricingError(f"model {where}: 'from' must be a date, YYYY-MM-DD")
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def _dated(entry: Mapping[str, object], name: str) -> list[tuple[int, Mapping[str, object]]]:
    raw = entry.get("prices")
    if raw is None:
        return [(0, entry)]
    if not isinstance(raw, list) or not raw or not all(isinstance(p, dict) for p in raw):
        raise PricingError(f"model {name!r}: prices must be a list of tables")
    if RATE_FIELDS & set(entry) or PRICE_PARTS & set(entry):
        raise PricingError(f"model {name!r}: with 'prices', every rate goes in a dated table")
    dated = []
    for p in raw:
        if set(p) - RATE_FIELDS - PRICE_PARTS - {"from"}:
            raise PricingError(f"model {name!r}: a dated price holds 'from' and rates only")
        dated.append((_start_ms(p.get("from"), repr(name)), p))
    dated.sort(key=lambda d: d[0])
    if len({s for s, _ in dated}) != len(dated):
        raise PricingError(f"model {name!r}: two prices start on the same day")
    return [(0, dated[0][1]), *dated[1:]] if dated[0][0] > 0 else dated


def operator_periods(
    route: Route, entry: Mapping[str, object], tools: Mapping[str, int]
) -> tuple[Period, ...]:
    """The model's own prices, period by period."""
    periods = []
    for start, prices in _dated(entry, route.name):
        tiers = _service_tiers(prices, repr(route.name), tools)
        _check_token_rates(route, tiers[""])
        day = None if start == 0 else datetime.fromtimestamp(start / 1000, UTC).date().isoformat()
        cards = {
            tier: compile_card(
                rates,
                {"model": route.name, "provider": route.provider, "source": "pricing.toml",
                 "from": day, "tier": tier},
            )
            for tier, rates in tiers.items()
        }  # fmt: skip
        periods.append(Period(start, (0,), (cards,)))
    return tuple(periods)


def _check_token_rates(route: Route, rates: Mapping[str, object]) -> None:
    if route.kind not in TOKEN_KINDS:
        return
    if "input_mtok" not in rates:
        raise PricingError(f"model {route.name!r}: missing 'input'")
    if route.kind != "embedding" and "output_mtok" not in rates:
        raise PricingError(f"model {route.name!r}: missing 'output'")


def parse_tools(doc: Mapping[str, object]) -> dict[str, int]:
    """`[tools]`: USD per run of a built-in tool, keyed by its output item type, for models
    priced here; catalogue models carry their own fees."""
    raw = doc.get("tools", {})
    if not isinstance(raw, dict):
        raise PricingError("[tools] must be a table of per-run prices")
    unknown = sorted(set(raw) - set(TOOL_FIELDS))
    if unknown:
        raise PricingError(f"[tools]: unknown tool(s) {unknown}")
    return {TOOL_FIELDS[item]: _usd(raw[item], f"[tools] {item!r}") for item in raw}


def _whole(name: str, entry: Mapping[str, object], field: str, default: int | None) -> int:
    value = entry.get(field, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PricingError(f"model {name!r}: {field} must be a whole number")
    return value


def _text(name: str, entry: Mapping[str, object], field: str, default: str) -> str:
    value = entry.get(field, default)
    if not isinstance(value, str) or not value:
        raise PricingError(f"model {name!r}: {field} must be a non-empty string")
    return value


def read_route(name: str, entry: Mapping[str, object], providers: frozenset[str]) -> Route:
    unknown = sorted(set(entry) - FIELDS)
    if unknown:
        raise PricingError(f"model {name!r}: unknown field(s) {unknown}")
    provider = entry.get("provider")
    if not one_of(provider, providers):
        raise PricingError(f"model {name!r}: unknown provider {provider!r}")
    kind = entry.get("kind", "chat")
    if not one_of(kind, KINDS):
        raise PricingError(f"model {name!r}: kind must be one of {sorted(KINDS)}")
    encoding = entry.get("encoding", "o200k_base")
    if not one_of(encoding, ENCODINGS):
        raise PricingError(f"model {name!r}: encoding must be one of {sorted(ENCODINGS)}")
    aliases = entry.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
        raise PricingError(f"model {name!r}: aliases must be a list of non-empty strings")
    priced = bool(RATE_FIELDS & set(entry)) or "prices" in entry
    catalogue = entry.get("catalogue")
    if catalogue is not None and (priced or not isinstance(catalogue, str) or not catalogue):
        raise PricingError(f"model {name!r}: 'catalogue' names one model, and no rates")
    image = DEFAULT_IMAGE_TOKENS.get(str(provider), IMAGE_TOKENS_FALLBACK)
    return Route(
        name=name,
        provider=str(provider),
        kind=kind,  # type: ignore[arg-type]
        upstream=_text(name, entry, "upstream", name),
        max_output_tokens=_max_output(name, entry, kind, priced),
        encoding=str(encoding),
        image_max_tokens=_whole(name, entry, "image_max_tokens", image),
        aliases=tuple(aliases),
        catalogue=catalogue if isinstance(catalogue, str) else None,
        priced=priced,
    )


def _max_output(name: str, entry: Mapping[str, object], kind: object, priced: bool) -> int | None:
    """A model priced here names its output cap; one the catalogue prices may take the
    catalogue's bound."""
    if "max_output_tokens" not in entry and kind not in ("chat", "completion"):
        return 0
    if "max_output_tokens" not in entry and not priced:
        return None
    return _whole(name, entry, "max_output_tokens", None)


def routed(route: Route, periods: tuple[Period, ...], source: str) -> ModelPrice:
    return ModelPrice(
        name=route.name,
        provider=route.provider,
        upstream_model=route.upstream,
        kind=route.kind,
        max_output_tokens=route.max_output_tokens or 0,
        encoding=route.encoding,
        image_max_tokens=route.image_max_tokens,
        periods=periods,
        source=source,
    )
