# mypyc: compiled (setup.py's HOT_PATH; ARCHITECTURE.md, "Two builds")
"""Reading a proxied request: validate its body and size its worst case before forwarding.

What is forwarded is exactly what was priced: the provider always gets a body re-serialized
from the parsed, validated request (duplicate JSON keys collapse to the value that was
priced), and requests whose meaning is ambiguous (two max-token fields that disagree, a
`stream` that is not a boolean) are refused with a 400.
"""

from __future__ import annotations

import logging
from typing import Any, Final, final

import orjson

from billing.metering.tokens import TokenCounter
from billing.pricing import Deployment, ModelPrice, PricingTable
from billing.pricing.books import BookError
from billing.pricing.byok import ByokFee
from billing.values import Value, replace
from gateway.config.providers import BODIES
from gateway.errors import BookInexact, InvalidRequest, ModelNotFound, PermissionDenied
from gateway.llm.endpoint import Endpoint
from gateway.llm.endpoints import read_as
from gateway.llm.reading.betas import NONE, Betas
from gateway.llm.reading.end_user import end_user_of
from gateway.llm.reading.kinds import billed_kinds
from gateway.llm.reading.options import refuse_unpriced
from gateway.llm.reading.uploads import Upload
from gateway.llm.translations import translated
from gateway.stores.records import KeyRecord

log = logging.getLogger("meterway.pricing")


@final
class Call(Value):
    """One metered request, read whole before anything is reserved; `clamped` makes a new one."""

    def __init__(
        self,
        endpoint: Endpoint,
        price: ModelPrice,
        body: dict[str, Any],
        stream: bool,
        client_wants_usage: bool,
        input_tokens: int,
        max_output_tokens: int,
        max_tokens_field: str | None = None,
        choices: int = 1,
        service_tier: str = "",
        fees_micros: int = 0,
        kinds: tuple[str, ...] = (),
        deployments: tuple[Deployment, ...] = (),
        upload: Upload | None = None,
        end_user: str = "",
        end_user_param: str = "",
        reserve_micros: int = 0,
        assembled: bool = False,
        byok: ByokFee | None = None,
    ) -> None:
        self.endpoint: Final = endpoint
        self.price: Final = price
        self.body: Final = body
        self.stream: Final = stream
        self.client_wants_usage: Final = client_wants_usage
        self.input_tokens: Final = input_tokens
        self.max_output_tokens: Final = max_output_tokens  # over all choices
        self.max_tokens_field: Final = max_tokens_field
        self.choices: Final = choices
        self.service_tier: Final = service_tier
        self.fees_micros: Final = fees_micros
        self.kinds: Final = kinds  # usage keys beyond text it may bill (reading/kinds.py)
        # The upstreams it may go to when its model has several; `price` is then the dearest's
        # (what is reserved) until one serves it (`served_by`).
        self.deployments: Final = deployments
        self.upload: Final = upload  # a multipart body, sent from its spool (reading/uploads.py)
        # Who it is for (billing/money/end_users.py: '' none, INVALID out of bounds) and where the
        # request said so: the header, `user` or `metadata.user_id`.
        self.end_user: Final = end_user
        self.end_user_param: Final = end_user_param
        # A batch's reservation, its lines' worst cases summed (each at its own band); 0: the
        # worst case of input_tokens and max_output_tokens as one request.
        self.reserve_micros: Final = reserve_micros
        # The provider streams events, the client gets the answer whole
        self.assembled: Final = assembled
        # Sent with the account's own provider key and charged this platform fee in place
        # of the list price (services/contracts/byok.py); None: the operator's key, the list price.
        self.byok: Final = byok

    @property
    def worst_case_micros(self) -> int:
        if self.reserve_micros:
            return self.reserve_micros
        tokens = self.price.worst_case_micros(
            self.input_tokens, self.max_output_tokens, self.service_tier, kinds=self.kinds
        )
        if self.byok is not None:
            return self.byok.worst(tokens + self.fees_micros)
        return tokens + self.fees_micros

    def clamped(self, max_tokens: int) -> Call:
        """This call with max_tokens lowered in the body the provider sees, and the reservation.

        `max_tokens` is the total over all choices, as `max_output_tokens` is.
        """
        per_choice = max(max_tokens // self.choices, 1)
        present = [name for name in MAX_FIELDS if name in self.body]
        fields = present or [self.max_tokens_field or self._cap_field()]
        body = {**self.body, **dict.fromkeys(fields, per_choice)}
        return replace(self, body=body, max_output_tokens=per_choice * self.choices)

    def names_output_cap(self) -> bool:
        """Whether the request sent its own output cap (a body field; Gemini's in its
        generation config): one that did not may be fitted to what its caller has left."""
        config = self.body.get("generationConfig") or self.body.get("generation_config")
        if isinstance(config, dict) and "maxOutputTokens" in config:
            return True
        fields = (*MAX_FIELDS, self.endpoint.max_tokens_field)
        return any(name in self.body for name in fields if name)

    def with_output_cap(self, per_choice: int) -> Call:
        """This call sent with an explicit output cap of `per_choice` tokens, for a request
        that names none to a model whose cap is unknown: the provider stops where the hold
        ends, so the hold bounds the debit. Gemini's own wire takes it in generationConfig."""
        if self.endpoint.wire == "gemini":
            name = "generation_config" if "generation_config" in self.body else "generationConfig"
            config = {**(self.body.get(name) or {}), "maxOutputTokens": per_choice}
            body, field = {**self.body, name: config}, "maxOutputTokens"
        else:
            field = self._cap_field()
            body = {**self.body, field: per_choice}
        total = per_choice * self.choices
        return replace(self, body=body, max_output_tokens=total, max_tokens_field=field)

    def _cap_field(self) -> str:
        """The body field capping output: OpenAI's chat takes `max_completion_tokens` (its
        reasoning models refuse `max_tokens`); other providers of its wire `max_tokens`."""
        field = self.endpoint.max_tokens_field
        if field == "max_tokens" and self.endpoint.wire == "openai":
            return "max_completion_tokens" if self.price.provider in OPENAI_CAPS else field
        return field

    def served_by(self, deployment: Deployment) -> Call:
        """This call as sent to `deployment`: its model id upstream, billed at its price,
        its usage read as that provider counts reasoning."""
        price = deployment.price
        return replace(self, price=price, endpoint=read_as(self.endpoint, price))

    def pinned(self, providers: frozenset[str]) -> Call | None:
        """This call kept to `providers` (a plan's data residency), None if none serves it."""
        if not self.deployments:
            return self if self.price.provider in providers else None
        kept = tuple(d for d in self.deployments if d.price.provider in providers)
        return replace(self, deployments=kept) if kept else None


MAX_FIELDS = ("max_completion_tokens", "max_tokens")
OPENAI_CAPS = frozenset({"openai", "azure"})  # providers taking `max_completion_tokens`


def parse_json(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"Request body is not valid JSON: {exc}", param="body") from exc
    if not isinstance(body, dict):
        raise InvalidRequest("Request body must be a JSON object.", param="body")
    try:
        orjson.dumps(body)  # orjson writes at most 254 levels: deeper cannot be forwarded
    except orjson.JSONEncodeError as deep:
        raise InvalidRequest("Request body is nested too deeply.", param="body") from deep
    return body


def _stream_flags(body: dict[str, Any]) -> tuple[bool, bool]:
    """(stream, client asked for usage); anything but a boolean is ambiguous."""
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise InvalidRequest("'stream' must be true or false.", param="stream")
    options = body.get("stream_options")
    if options is None:
        return stream, False
    if not isinstance(options, dict):
        raise InvalidRequest("'stream_options' must be an object.", param="stream_options")
    wants = options.get("include_usage", False)
    if not isinstance(wants, bool):
        raise InvalidRequest(
            "'stream_options.include_usage' must be true or false.", param="stream_options"
        )
    return stream, wants


def model_for(
    endpoint: Endpoint, body: dict[str, Any], key: KeyRecord, pricing: PricingTable
) -> ModelPrice:
    """The priced model this key may use on this endpoint, or the error saying why not."""
    price, translation = _routed(endpoint, with_default_model(endpoint, body), key, pricing)
    if translation is not None:
        raise ModelNotFound(endpoint.wrong_provider.format(model=body["model"]), param="model")
    return price


def with_default_model(endpoint: Endpoint, body: dict[str, Any]) -> dict[str, Any]:
    """The body naming the model the provider would assume when it names none (a
    moderation's `omni-moderation-latest`): priced, and forwarded, by that name."""
    if endpoint.default_model and "model" not in body:
        return {**body, "model": endpoint.default_model}
    return body


def _routed(
    endpoint: Endpoint, body: dict[str, Any], key: KeyRecord, pricing: PricingTable
) -> tuple[ModelPrice, tuple[Endpoint, Endpoint] | None]:
    """The priced model, and the endpoints translating the call when its provider speaks
    another wire (None: it speaks this one)."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("'model' is required.", param="model")
    price = pricing.lookup(model)
    if endpoint.wire == "gemini" and not _serves(endpoint, price, pricing):
        price = _native_gemini(model, pricing) or price
    if price is None:
        pricing.refused(model, key.account_id)  # counted for the operator, off the wire
    if price is None or price.kind != endpoint.kind:
        raise ModelNotFound(
            f"The model '{model}' does not exist or is not served on this endpoint.", param="model"
        )
    if key.scopes and endpoint.scope not in key.scopes:
        raise PermissionDenied(f"This API key lacks the '{endpoint.scope}' scope.")
    if key.models and price.name not in key.models:
        raise PermissionDenied(f"This API key may not use the model '{model}'.", param="model")
    price = booked_price(pricing, price, key.account_id)
    wire = pricing.wire(price.provider)
    if endpoint.serves(price, wire):
        return price, None
    translation = translated(endpoint, wire)
    if translation is None:
        raise ModelNotFound(endpoint.wrong_provider.format(model=model), param="model")
    return price, translation


def booked_price(pricing: PricingTable, price: ModelPrice, account_id: str) -> ModelPrice:
    """The price the account pays: its book's (one lookup in the table's shelf), else list."""
    try:
        return pricing.booked(price, account_id)
    except BookError as exc:
        log.error("price book refuses %s for %s: %s", price.name, account_id, exc)
        raise BookInexact(
            f"The model '{price.name}' cannot be priced exactly under this account's price"
            " book; the operator is told.",
            param="model",
        ) from exc


def _serves(endpoint: Endpoint, price: ModelPrice | None, pricing: PricingTable) -> bool:
    return price is not None and endpoint.serves(price, pricing.wire(price.provider))


def _native_gemini(model: str, pricing: PricingTable) -> ModelPrice | None:
    """A Gemini-wire provider's model of this name, for Google's own routes asked for a name
    the bare lookup gives to another wire (Google's OpenAI-compatible API): google-genai and
    Gemini CLI name Gemini's models as Google does. Providers in their configured order."""
    for provider, wire in pricing.wires.items():
        if BODIES.get(wire) == "gemini":
            found = pricing.lookup(f"{provider}/{model}")
            if found is not None:
                return found
    return None


def read_call(
    endpoint: Endpoint,
    body: dict[str, Any],
    key: KeyRecord,
    pricing: PricingTable,
    counter: TokenCounter,
    betas: Betas = NONE,
    end_user_header: str | None = None,
    *,
    explicit_cap: bool = True,
) -> Call:
    """The whole call, validated and sized; billable options the table cannot price are
    refused by name before any token is counted. `betas` (Anthropic's, all passing) may
    raise the model's output cap; `end_user_header` names the end user over the body.
    A call naming no output cap to a model with none known gets the table's default, sent
    to the provider (`explicit_cap`; a batch line, whose body is not rewritten, is refused)."""
    body = with_default_model(endpoint, body)
    price, translation = _routed(endpoint, body, key, pricing)
    if betas.output_cap and endpoint.wire == "anthropic":
        price = betas.widen(price)
    stream, wants_usage = _stream_flags(body)
    if translation is not None:
        endpoint = translation[stream]
    endpoint = read_as(endpoint, price)
    stream = stream or endpoint.always_streams
    deployments = _priceable(body, price, endpoint)
    sizing = endpoint.read_request(body, price, counter.for_account(key.account_id))
    if end_user_header is None and endpoint.wire == "openai" and "user" not in body:
        end_user, end_user_param = "", "user"  # the common case, without a call
    else:
        end_user, end_user_param = end_user_of(endpoint.wire, body, end_user_header)
    if key.providers:
        deployments = _key_pinned(price, deployments, key)
    call = Call(
        endpoint=endpoint,
        price=price,
        body=body,
        stream=stream if sizing.streams is None else sizing.streams,
        client_wants_usage=wants_usage,
        input_tokens=sizing.input_tokens,
        max_output_tokens=sizing.max_output_tokens * sizing.choices,
        max_tokens_field=sizing.max_tokens_field,
        choices=sizing.choices,
        service_tier=sizing.service_tier,
        fees_micros=sizing.fees_micros,
        kinds=billed_kinds(body, price) + sizing.kinds,
        end_user=end_user,
        end_user_param=end_user_param,
        assembled=sizing.assembled,
    )
    if sizing.assembled:
        call = replace(call, body={**body, "stream_format": "sse"})
    if not call.max_output_tokens and endpoint.kind == "chat":
        call = _default_cap(call, pricing.default_output_tokens, explicit_cap)
    return _at_dearest(call, deployments) if deployments else call


def _default_cap(call: Call, tokens: int, explicit_cap: bool) -> Call:
    if not explicit_cap:
        field = call.endpoint.max_tokens_field
        raise InvalidRequest(
            f"'{field}' is required: the output limit of '{call.price.name}' is unknown.",
            param=field,
        )
    return call.with_output_cap(tokens)


def _priceable(
    body: dict[str, Any], price: ModelPrice, endpoint: Endpoint
) -> tuple[Deployment, ...]:
    """The model's deployments able to price every option the body asks for (refused by
    name when none can); () for a model with one upstream, checked alone."""
    if not price.deployments:
        refuse_unpriced(body, price, endpoint.stores, endpoint.counts_tool_runs)
        return ()
    able, refusal = [], None
    for deployment in price.deployments:
        try:
            refuse_unpriced(body, deployment.price, endpoint.stores, endpoint.counts_tool_runs)
        except InvalidRequest as exc:
            refusal = refusal or exc
        else:
            able.append(deployment)
    if not able and refusal is not None:
        raise refusal
    return tuple(able)


def _key_pinned(
    price: ModelPrice, deployments: tuple[Deployment, ...], key: KeyRecord
) -> tuple[Deployment, ...]:
    """The deployments a key pinned to some providers (data residency) may use; refused
    by name when none is left."""
    if not deployments and price.provider in key.providers:
        return deployments
    kept = tuple(d for d in deployments if d.price.provider in key.providers)
    if kept:
        return kept
    raise PermissionDenied(
        f"The model '{price.name}' is not served by a provider this API key allows "
        f"({', '.join(sorted(key.providers))}).",
        param="model",
    )


def _at_dearest(call: Call, deployments: tuple[Deployment, ...]) -> Call:
    """The call reserving at its dearest deployment: whichever serves it costs no more."""
    dearest = max(deployments, key=lambda d: call.served_by(d).worst_case_micros)
    return replace(call, price=dearest.price, deployments=deployments)


def upstream_body(call: Call) -> bytes:
    """The body the provider sees, re-serialized from what was priced: its model name, and
    usage always asked for on streams."""
    asks_usage = call.stream and call.endpoint.asks_stream_usage
    body = dict(call.body)
    if call.endpoint.model_in_body:
        body["model"] = call.price.upstream_model
    else:
        body.pop("model", None)
    if call.endpoint.translate is not None:
        return orjson.dumps(call.endpoint.translate(body))
    if asks_usage:
        options = dict(body.get("stream_options") or {})
        options["include_usage"] = True
        body["stream_options"] = options
    return orjson.dumps(body)
