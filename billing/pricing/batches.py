"""A batch's bill, read from its output file: the usage of every line that succeeded.

A batch ends `completed`, `expired`, `cancelled` or `failed`; whatever lines ran before it
ended are in its output file, one JSON object a line (`{"custom_id", "response":
{"status_code", "body"}, "error"}`). Lines whose response is not a 2xx, or that carry an
error, are not billed (the provider does not bill them). Each other line is a request of
its own to the provider, so it is priced on its own at the batch tier's rates: its own
long-context band (gpt-5.4's above 272k input tokens is per request, never reached by the
sum of small lines), and at the model it reports it ran on, or the batch's model if that
is dearer (a mismatch has already run: it is billed, at the dearer of the two). The lines'
exact costs are summed and the batch, one ledger debit, is rounded up once (money.py).

Each billed line's share of that debit (its `cost_micros` in the output file a client
downloads) is the cumulative rounding of the exact costs: line i's share is the debit of
lines 1..i rounded up minus that of lines 1..i-1, so the shares sum to the debit exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from billing.metering.usage import Usage
from billing.money.micros import charge
from billing.pricing.model import ModelPrice, Priced
from billing.values import replace

TERMINAL = frozenset({"completed", "expired", "cancelled", "failed"})
BATCH_TIER = "batch"
UsageOf = Callable[[dict[str, Any]], Usage | None]
Lookup = Callable[[str], ModelPrice | None]
# What a bill's detail counts lines by: those past a long-context threshold, those billed
# at the model they report because it is dearer than the batch's.
LINE_DETAIL = ("context_above", "billed_as")


def is_terminal(batch: object) -> bool:
    return isinstance(batch, dict) and batch.get("status") in TERMINAL


def _succeeded(line: bytes) -> dict[str, Any] | None:
    """The response body of a line that succeeded, else None."""
    try:
        item = orjson.loads(line)
    except ValueError:
        return None
    if not isinstance(item, dict) or item.get("error"):
        return None
    response = item.get("response")
    if not isinstance(response, dict):
        return None
    status, body = response.get("status_code"), response.get("body")
    ok = isinstance(status, int) and 200 <= status < 300
    return body if ok and isinstance(body, dict) else None


def add(total: Usage, usage: Usage) -> Usage:
    extra = dict(total.extra)
    for key, n in usage.extra:
        extra[key] = extra.get(key, 0) + n
    return replace(
        total,
        input_tokens=total.input_tokens + usage.input_tokens,
        cached_input_tokens=total.cached_input_tokens + usage.cached_input_tokens,
        cache_write_tokens=total.cache_write_tokens + usage.cache_write_tokens,
        output_tokens=total.output_tokens + usage.output_tokens,
        reasoning_tokens=total.reasoning_tokens + usage.reasoning_tokens,
        extra=tuple(sorted(extra.items())),
    )


def output_usage(lines: Iterable[bytes], usage_of: UsageOf) -> tuple[Usage, int]:
    """(the summed usage at the batch tier, how many lines succeeded). A succeeded line
    without usage counts none: the provider's output file is the record of what it billed."""
    total, succeeded = Usage(service_tier=BATCH_TIER), 0
    for body in _succeeded_bodies(lines):
        succeeded += 1
        usage = usage_of(body)
        if usage is not None:
            total = add(total, usage)
    return total, succeeded


@dataclass(frozen=True, slots=True)
class BatchBill:
    """What a batch's output file bills: the lines' usage summed (the debit's columns), how
    many lines succeeded, and their exact cost, each line priced on its own."""

    usage: Usage
    succeeded: int
    priced: Priced


def line_cost(usage: Usage, price: ModelPrice, reported: ModelPrice | None, at_ms: int) -> Priced:
    """One line's exact cost: at the batch's model, or at the model the line reports if
    that is dearer (its detail then names it)."""
    own = price.price(usage, at_ms)
    if reported is None or reported.name == price.name:
        return own
    theirs = reported.price(usage, at_ms)
    if theirs.numerator <= own.numerator:
        return own
    return Priced(theirs.numerator, theirs.version, (*theirs.detail, ("billed_as", reported.name)))


def _reported(body: dict[str, Any], lookup: Lookup) -> ModelPrice | None:
    model = body.get("model")
    return lookup(model) if isinstance(model, str) and model else None


def _succeeded_bodies(lines: Iterable[bytes]) -> Iterable[dict[str, Any]]:
    for line in lines:
        body = _succeeded(line) if line.strip() else None
        if body is not None:
            yield body


def _priced_lines(
    lines: Iterable[bytes], usage_of: UsageOf, price: ModelPrice, lookup: Lookup, at_ms: int
) -> Iterator[tuple[int, Usage | None, Priced | None]]:
    """(the line's index, its usage, its exact cost) for every line that succeeded; a line
    without usage has neither (the output file is the record of what ran: it counts none)."""
    for index, line in enumerate(lines):
        body = _succeeded(line) if line.strip() else None
        if body is None:
            continue
        usage = usage_of(body)
        if usage is None:
            yield index, None, None
            continue
        usage = replace(usage, service_tier=BATCH_TIER)
        yield index, usage, line_cost(usage, price, _reported(body, lookup), at_ms)


PricedLine = tuple[int, Usage | None, Priced | None]  # (index, usage, exact cost)


def priced_lines(
    lines: Iterable[bytes], usage_of: UsageOf, price: ModelPrice, lookup: Lookup, at_ms: int
) -> list[PricedLine]:
    """Every succeeded line priced, read once: what `bill_of` sums and `shares_of` splits."""
    return list(_priced_lines(lines, usage_of, price, lookup, at_ms))


def bill_output(
    lines: Iterable[bytes], usage_of: UsageOf, price: ModelPrice, lookup: Lookup, at_ms: int
) -> BatchBill:
    """The bill of a batch of `price`'s model admitted at `at_ms`: every succeeded line
    priced on its own (its band, its reported model), the exact costs summed."""
    return bill_of(_priced_lines(lines, usage_of, price, lookup, at_ms), price, at_ms)


def bill_of(priced_lines: Iterable[PricedLine], price: ModelPrice, at_ms: int) -> BatchBill:
    """The bill of lines already priced (`priced_lines`)."""
    total, succeeded, numerator, listed = Usage(service_tier=BATCH_TIER), 0, 0, 0
    counts: dict[str, int] = {}
    for _, usage, priced in priced_lines:
        succeeded += 1
        if usage is None or priced is None:
            continue
        numerator += priced.numerator
        own = priced.provider_numerator
        listed += priced.numerator if own < 0 else own
        total = add(total, usage)
        for key, _ in priced.detail:
            counts[key] = counts.get(key, 0) + 1
    detail: list[tuple[str, int | str]] = [("service_tier", BATCH_TIER), ("batch_lines", succeeded)]
    detail += [(f"lines_{k}", n) for k, n in sorted(counts.items()) if k in LINE_DETAIL]
    list_price = price.listed or price  # a booked price's debit names its list card
    version = list_price.card(at_ms, BATCH_TIER).version
    if price.listed is None:
        return BatchBill(total, succeeded, Priced(numerator, version, tuple(detail)))
    detail.append(("book", price.book))
    return BatchBill(total, succeeded, Priced(numerator, version, tuple(detail), listed))


def line_shares(
    lines: Sequence[bytes],
    usage_of: UsageOf,
    price: ModelPrice,
    lookup: Lookup,
    at_ms: int,
    markup_bps: int,
    cap: int | None = None,
) -> dict[int, int]:
    """Each billed line's share of the batch's debit, by the line's index: the exact costs
    through it marked up and rounded up, less those through the line before. The shares
    telescope to the batch's one rounding (`bill_output(...).priced.charged(markup_bps)`),
    and no line's running total is below its exact cost. `cap`: the batch's charge cap; a
    provider that reported more than the batch could have used is debited the cap, and the
    running total stops there (the lines past it share nothing), so the shares add up to
    the debit either way."""
    return shares_of(_priced_lines(lines, usage_of, price, lookup, at_ms), markup_bps, cap)


def shares_of(
    priced_lines: Iterable[PricedLine], markup_bps: int, cap: int | None = None
) -> dict[int, int]:
    """`line_shares` of lines already priced (`priced_lines`)."""
    shares: dict[int, int] = {}
    exact = charged = 0
    for index, _, priced in priced_lines:
        if priced is None:
            continue
        exact += priced.numerator
        through = charge(exact, markup_bps)
        if cap is not None:
            through = min(through, cap)
        shares[index], charged = through - charged, through
    return shares
