"""Anthropic beta features (`anthropic-beta`), by what each does to the price.

The header is forwarded exactly as sent. A beta is priced from the usage Anthropic reports
(input, output, cache reads, 5-minute and 1-hour writes, server tool use), which is how
every beta that changes no rate is billed; the few that change a rate without a usage field
of their own (the 1M context window's long-context rates, a raised output cap) are listed
here and priced as such. A beta whose cost the usage does not carry (container hours, work
the gateway cannot see to reserve) is refused with a 400 naming it. A beta not listed at all
passes, billed from its reported usage, counted and logged once per name; with
ANTHROPIC_UNKNOWN_BETAS=refuse it is refused by name instead. Coding agents send betas of
their own release by release (Claude Code's `claude-code-20250219` and others), so refusing
the unknown would lock them out. docs/concepts/anthropic-betas.md is the user's table.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import Enum

from billing.pricing import ModelPrice
from gateway.errors import InvalidRequest
from gateway.telemetry import metrics

HEADER = "anthropic-beta"
UNKNOWN_POLICIES = ("pass", "refuse")
log = logging.getLogger("meterway.betas")


class Effect(Enum):
    UNCHANGED = "billed from the reported usage at the usual rates"
    PRICED = "priced from the reported usage by the catalogue"
    OUTPUT_CAP = "raises the output cap; max_tokens is reserved in full"


# Betas that pass, and why.
PASSING: Mapping[str, Effect] = {
    "interleaved-thinking-2025-05-14": Effect.UNCHANGED,
    "fine-grained-tool-streaming-2025-05-14": Effect.UNCHANGED,
    "token-efficient-tools-2025-02-19": Effect.UNCHANGED,
    "prompt-caching-2024-07-31": Effect.UNCHANGED,
    "computer-use-2024-10-22": Effect.UNCHANGED,
    "computer-use-2025-01-24": Effect.UNCHANGED,
    "computer-use-2025-11-24": Effect.UNCHANGED,
    "pdfs-2024-09-25": Effect.UNCHANGED,
    "dev-full-thinking-2025-05-14": Effect.UNCHANGED,
    "structured-outputs-2025-11-13": Effect.UNCHANGED,
    "context-management-2025-06-27": Effect.UNCHANGED,
    "model-context-window-exceeded-2025-08-26": Effect.UNCHANGED,
    "context-1m-2025-08-07": Effect.PRICED,
    "extended-cache-ttl-2025-04-11": Effect.PRICED,
    "output-128k-2025-02-19": Effect.OUTPUT_CAP,
    "output-300k-2026-03-24": Effect.OUTPUT_CAP,
}
# The most output each output-cap beta allows; the provider enforces it per model.
OUTPUT_CAPS: Mapping[str, int] = {
    "output-128k-2025-02-19": 128_000,
    "output-300k-2026-03-24": 300_000,
}
# Betas refused by name, with the cost the reported usage does not carry.
REFUSED: Mapping[str, str] = {
    "code-execution-2025-05-22": "bills code execution by container hours",
    "code-execution-2025-08-25": "bills code execution by container hours",
    "skills-2025-10-02": "runs skills in code execution containers, billed by the hour",
    "files-api-2025-04-14": "reads files by id, whose tokens the gateway cannot reserve",
    "mcp-client-2025-04-04": "runs remote MCP tool calls the gateway cannot reserve",
    "mcp-client-2025-11-20": "runs remote MCP tool calls the gateway cannot reserve",
    "fast-mode-2026-02-01": "selects fast mode, billed at premium rates",
}


@dataclass(frozen=True, slots=True)
class Betas:
    """The betas a request asked for, all of them passing; `output_cap` is the highest output
    limit one of them raises to (0: none does)."""

    names: tuple[str, ...] = ()
    output_cap: int = 0
    unknown: tuple[str, ...] = ()  # passed, though not in PASSING: billed from usage

    def widen(self, price: ModelPrice) -> ModelPrice:
        """The model's price with its output cap raised by an output-cap beta: a `max_tokens`
        above the default cap is then accepted and reserved in full (the provider enforces
        the beta's limit for the model)."""
        if not price.max_output_tokens or self.output_cap <= price.max_output_tokens:
            return price  # no cap known (the request names its own), or a higher one
        return replace(price, max_output_tokens=self.output_cap)


NONE = Betas()


def _refuse(name: str, why: str) -> InvalidRequest:
    return InvalidRequest(
        f"{HEADER} '{name}' {why}; it is not accepted.",
        param=HEADER,
        extra={"unpriced_option": name},
    )


def forwarded(incoming: Mapping[str, str]) -> str | None:
    """The header as the client sent it (several lines joined, as HTTP allows), for a request
    whose betas `read_betas` passed."""
    getall = getattr(incoming, "getall", None)
    if getall is None or HEADER not in incoming:
        return incoming.get(HEADER)
    return ",".join(getall(HEADER))


def read_betas(headers: Mapping[str, str], unknown: str = "pass") -> Betas:
    """The request's betas when every one passes; else InvalidRequest naming the first that
    does not. Several may come comma-separated, in one header or several. `unknown`: what a
    beta not listed here gets ("pass": billed from its reported usage; "refuse")."""
    raw = headers.get(HEADER)
    if raw is None:
        return NONE
    getall = getattr(headers, "getall", None)
    values = getall(HEADER) if getall is not None else [raw]
    names = tuple(n for v in values for n in (part.strip() for part in v.split(",")) if n)
    for name in names:
        if name in REFUSED:
            raise _refuse(name, REFUSED[name])
    new = tuple(n for n in names if n not in PASSING)
    if new and unknown == "refuse":
        raise _refuse(new[0], "has an unknown price effect")
    if new:
        _note_unknown(new)
    return Betas(names, max((OUTPUT_CAPS.get(n, 0) for n in names), default=0), new)


_LOGGED_MAX = 1024  # names logged once each, at most this many (a client chooses them)
_logged: set[str] = set()


def _note_unknown(names: tuple[str, ...]) -> None:
    """Count every unknown beta passed, and log each name the first time it is seen."""
    m = metrics()
    m.tally.count(m.unknown_betas, amount=len(names))
    for name in names:
        if name not in _logged and len(_logged) < _LOGGED_MAX:
            _logged.add(name)
            log.warning("anthropic-beta %r is not in the table; billed from reported usage", name)
