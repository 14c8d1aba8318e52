# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""The pricing table: every model the gateway serves, by the names clients send.

Built once at start-up from the catalogue and the operator's config/pricing.toml (the
operator's entries win). A name the operator lists is a dict lookup; any other name is
matched against the catalogue's models once (dated snapshots, new models) and the answer is
kept, so a request costs a lookup either way.
"""

from __future__ import annotations

import time
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from billing.metering.usage import REASONING_APART
from billing.pricing.card import RateCard
from billing.pricing.catalogue import VERSION, Entry, compile_catalogue, dashed_date
from billing.pricing.deployments import Spec, deployed, read_specs
from billing.pricing.errors import PricingError
from billing.pricing.model import Deployment, ModelPrice, Period
from billing.pricing.operator import Route, operator_periods, parse_tools, read_route, routed
from billing.pricing.shelf import BookShelf

CATALOGUE_FIELDS = frozenset({"serve", "providers", "exclude"})
MATCHES_KEPT = 4096  # names matched against the catalogue, kept (a hostile client's are bounded)
REFUSALS_KEPT = 10_000  # (model, account) pairs counted between two flushes; more are dropped
NAME_KEPT = 200  # a refused model's name is counted by its first characters


def counted_name(model: str) -> str:
    """The name a refusal is counted under: its first NAME_KEPT characters, as text the
    ledger stores (a NUL or a lone surrogate a client sent becomes U+FFFD)."""
    name = model[:NAME_KEPT]
    if name.isascii() and "\x00" not in name:
        return name
    return "".join("\ufffd" if c == "\x00" or 0xD800 <= ord(c) <= 0xDFFF else c for c in name)


@dataclass(frozen=True, slots=True)
class PricingTable:
    models: Mapping[str, ModelPrice]  # the operator's names
    aliases: Mapping[str, str]
    catalogue: tuple[Entry, ...] = ()  # matched by a bare name, in the providers' order
    catalogue_version: str | None = None  # None: the catalogue is not served
    # Every served provider's catalogue models, matched by `PROVIDER/model` only (an added
    # provider's never by a bare name: it would take names the built-in ones serve).
    by_provider: Mapping[str, tuple[Entry, ...]] = field(default_factory=dict)
    wires: Mapping[str, str] = field(default_factory=dict)  # provider -> "openai"/"anthropic"
    # The output cap of a call that names none to a model whose cap is unknown (0): reserved,
    # and sent to the provider as the call's explicit cap (DEFAULT_MAX_OUTPUT_TOKENS).
    default_output_tokens: int = 32768
    _matched: dict[str, ModelPrice | None] = field(default_factory=dict, compare=False)
    # Calls refused for a model no price serves, by (model, account): counted here, in the
    # process, and flushed to the ledger by the price desk's clock
    # (services/proof/price_changes.py).
    _refusals: dict[tuple[str, str], int] = field(default_factory=dict, compare=False)
    # The price books the price desk's clock loads (services/proof/price_changes.py): whose
    # prices differ from the list, and how.
    books: BookShelf = field(default_factory=BookShelf, compare=False)

    def booked(self, price: ModelPrice, account_id: str, at_ms: int | None = None) -> ModelPrice:
        """`price` as `account_id` pays it (its price book's, else the list): a dict lookup
        in what the shelf holds, no I/O. BookError names a rate its book cannot book."""
        books = self.books
        if not (books.accounts or books.plans):  # no book assigned: no clock read
            return price
        at = time.time_ns() // 1_000_000 if at_ms is None else at_ms
        return books.price_for(account_id, price, at)

    def refused(self, model: str, account_id: str, calls: int = 1) -> None:
        """Count a call refused because no price serves `model`: a dict update, no I/O."""
        key = (counted_name(model), account_id)
        counts = self._refusals
        if key in counts:
            counts[key] += calls
        elif len(counts) < REFUSALS_KEPT:
            counts[key] = calls

    def take_refusals(self) -> dict[tuple[str, str], int]:
        """The refusals counted since the last take, and a fresh count."""
        taken = dict(self._refusals)
        self._refusals.clear()
        return taken

    def install(self, prices: Mapping[str, ModelPrice]) -> None:
        """Serve `prices` by their names from now on: approved price changes, installed
        between two requests (services/proof/price_changes.py). Names matched against the
        catalogue are matched again, so each finds a change made under its model's name."""
        models = self.models
        if not isinstance(models, dict):
            raise TypeError("the table's models are not its own dict")
        models.update(prices)
        self._matched.clear()

    def lookup(self, model: str) -> ModelPrice | None:
        found = self.models.get(self.aliases.get(model, model))
        if found is not None or not self.by_provider:
            return found
        if model in self._matched:
            return self._matched[model]
        if len(self._matched) >= MATCHES_KEPT:
            self._matched.clear()
        matched = self._match(model)
        self._matched[model] = matched
        return matched

    def wire(self, provider: str) -> str:
        """The wire format `provider` speaks."""
        return self.wires.get(provider) or ("anthropic" if provider == "anthropic" else "openai")

    def _match(self, model: str) -> ModelPrice | None:
        provider, _, rest = model.partition("/")
        if rest and provider in self.by_provider:
            found = _first(rest, self.by_provider[provider], self.models)
            if found is not None:
                return replace(found, name=f"{provider}/{found.name}")
        return _first(model, self.catalogue, self.models)

    def names(self) -> list[str]:
        """Every model served by its own name: the operator's and the catalogue's."""
        return sorted({*self.models, *(e.model_id for e in self.catalogue)})

    def served(self) -> list[ModelPrice]:
        """The operator's models, the catalogue's by bare name, and those of a provider
        reached only by `PROVIDER/model`."""
        bare = {e.provider for e in self.catalogue}
        return [
            *self.models.values(),
            *(e.price for e in self.catalogue if e.model_id not in self.models),
            *(
                replace(e.price, name=f"{provider}/{e.model_id}")
                for provider, entries in self.by_provider.items()
                if provider not in bare
                for e in entries
            ),
        ]

    def deployments(self) -> list[Deployment]:
        """Every deployment of the operator's models served by several upstreams."""
        return [d for price in self.models.values() for d in price.deployments]

    def current(self, at_ms: int | None = None) -> dict[str, dict[str, Mapping[str, object]]]:
        """Every served model's cards in force at `at_ms` (now), by service tier ("" the
        default): what `meterway prices diff` compares."""
        out: dict[str, dict[str, Mapping[str, object]]] = {}
        for price in self.served():
            tiers = ["", *sorted(price.tiers(at_ms))]
            out[price.name] = {t: price.card(at_ms, t).to_json() for t in tiers}
        return out

    def cards(self) -> dict[str, RateCard]:
        """Every card a debit can name, by version."""
        return {
            card.version: card
            for price in self.served()
            for period in price.periods
            for cards in period.segments
            for card in cards.values()
        }

    def rate_cards(self) -> dict[str, Mapping[str, object]]:
        """Every card a debit can name, by version: what the ledger keeps to re-derive it."""
        return {version: card.to_json() for version, card in self.cards().items()}


def _first(
    model: str, entries: tuple[Entry, ...], own: Mapping[str, ModelPrice]
) -> ModelPrice | None:
    """The first entry matching `model` (or its dashed date), sent upstream as named; the
    operator's prices of that model id win when they route to the same provider."""
    name = model.lower()
    for candidate in (name, dashed_date(name)):
        for entry in entries:
            if entry.model_id == candidate or entry.matches(candidate):
                mine = own.get(entry.model_id)
                price = mine if mine is not None and mine.provider == entry.provider else None
                return replace(price or entry.price, upstream_model=model)
    return None


def _catalogue_settings(
    doc: Mapping[str, object], providers: frozenset[str]
) -> tuple[bool, list[str], frozenset[str]]:
    raw = doc.get("catalogue", {})
    if not isinstance(raw, dict) or set(raw) - CATALOGUE_FIELDS:
        raise PricingError(f"[catalogue] holds only {sorted(CATALOGUE_FIELDS)}")
    serve = raw.get("serve", True)
    names = raw.get("providers", sorted(providers))
    exclude = raw.get("exclude", [])
    if not isinstance(serve, bool):
        raise PricingError("[catalogue] serve must be true or false")
    for field_name, value in (("providers", names), ("exclude", exclude)):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise PricingError(f"[catalogue] {field_name} must be a list of names")
    unknown = sorted(set(names) - providers)
    if unknown:
        raise PricingError(f"[catalogue] providers: unknown provider(s) {unknown}")
    return serve, names, frozenset(exclude)


def _catalogued(route_name: str, wanted: str, provider: str, entries: list[Entry]) -> Entry:
    name = wanted.lower()
    for entry in entries:
        if entry.provider == provider and (entry.model_id == wanted or entry.matches(name)):
            return entry
    raise PricingError(
        f"model {route_name!r}: no rates, and {VERSION} has no {provider} model {wanted!r}"
    )


def _priced(
    route: Route,
    entry: Mapping[str, object],
    specs: list[Spec],
    tools: Mapping[str, int],
    entries: list[Entry],
) -> ModelPrice:
    """The model's price: its own rates (or its first deployment's), else the catalogue's;
    with every deployment's when it has several."""
    own = entry if route.priced else (specs[0].rates if specs and specs[0].rates else None)
    if own is not None:
        if route.max_output_tokens is None:
            raise PricingError(f"model {route.name!r}: max_output_tokens must be a whole number")
        model = routed(route, operator_periods(route, own, tools), "pricing.toml")
    else:
        found = _catalogued(route.name, route.catalogue or route.name, route.provider, entries)
        cap = found.price.max_output_tokens if route.max_output_tokens is None else None
        model = replace(
            routed(route, found.price.periods, found.price.source),
            max_output_tokens=cap if cap is not None else route.max_output_tokens or 0,
        )
    if not specs:
        return model

    def catalogued(wanted: str, provider: str) -> tuple[Period, ...]:
        return _catalogued(route.name, wanted, provider, entries).price.periods

    return deployed(model, route, specs, tools, catalogued)


def parse_pricing(
    doc: Mapping[str, object],
    providers: Collection[str],
    added: Mapping[str, str] | None = None,
    wires: Mapping[str, str] | None = None,
) -> PricingTable:
    """Validate a parsed pricing document over the catalogue; every error names the model
    and field. `providers` are matched by a bare model name; `added` ones (name -> the
    catalogue provider pricing its models, "" none) by `NAME/model` or pricing.toml only."""
    added = {p: c for p, c in (added or {}).items() if p not in providers}
    known = frozenset(providers) | frozenset(added)
    serve, served_providers, exclude = _catalogue_settings(doc, frozenset(providers))
    raw_models = doc.get("models", {})
    if not isinstance(raw_models, dict):
        raise PricingError("[models] must be a table of models")
    entries = compile_catalogue(served_providers if serve else [], exclude)
    extra = compile_catalogue({p: c for p, c in added.items() if c} if serve else {}, exclude)
    tools = parse_tools(doc)
    models: dict[str, ModelPrice] = {}
    aliases: dict[str, str] = {}
    for name, entry in raw_models.items():
        if not isinstance(entry, dict):
            raise PricingError(f"model {name!r}: must be a table")
        specs = read_specs(name, entry, known)
        if specs:
            entry = {"provider": specs[0].provider, **entry}
        route = read_route(name, entry, known)
        models[name] = _priced(route, entry, specs, tools, entries + extra)
        for alias in route.aliases:
            if alias in aliases or alias in raw_models:
                raise PricingError(f"model {name!r}: alias {alias!r} is defined twice")
            aliases[alias] = name
    if not models and not entries:
        raise PricingError("pricing table serves no model: no [models.*] and no catalogue")
    families = {**{p: p for p in providers}, **added}
    models = {name: _read_as(price, families) for name, price in models.items()}
    entries = [replace(e, price=_read_as(e.price, families)) for e in entries]
    extra = [replace(e, price=_read_as(e.price, families)) for e in extra]
    by_provider: dict[str, list[Entry]] = {}
    for found in entries + extra:
        by_provider.setdefault(found.provider, []).append(found)
    return PricingTable(
        models,
        aliases,
        tuple(entries),
        VERSION if serve else None,
        {p: tuple(e) for p, e in by_provider.items()},
        dict(wires or {}),
    )


def _read_as(price: ModelPrice, families: Mapping[str, str]) -> ModelPrice:
    """The price marked with how its provider's usage counts reasoning (`families`: each
    provider's catalogue provider, whose convention it speaks), its deployments' too."""
    apart = families.get(price.provider, price.provider) in REASONING_APART
    deployments = tuple(replace(d, price=_read_as(d.price, families)) for d in price.deployments)
    if not apart and deployments == price.deployments:
        return price
    return replace(price, reasoning_apart=apart, deployments=deployments)


def load_pricing(
    path: Path,
    providers: Collection[str],
    added: Mapping[str, str] | None = None,
    wires: Mapping[str, str] | None = None,
) -> PricingTable:
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PricingError(f"cannot read pricing table {path}: {exc}") from exc
    return parse_pricing(doc, providers, added, wires)
