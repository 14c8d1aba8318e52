"""What an MCP tool call costs: the operator's price per tool, per call or per unit a result
field reports, and the worst case a call holds before it is forwarded.

A tool is priced in its server's `[mcp.NAME.tools.TOOL]` table: `per_call` and `per_unit` as
decimal USD strings (exact in micros, or the load fails), or `per_call_micros` and
`per_unit_micros` as whole micros. A per-unit price names the result field its units are read
from (`unit_field`, a dotted path into the JSON-RPC result such as `structuredContent.pages`)
and the most units one call may use (`max_units`), which the hold covers. A tool with no
table has no price and is never forwarded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from billing.money.micros import MoneyFormatError, parse_usd

FIELDS = frozenset(
    {"per_call", "per_call_micros", "per_unit", "per_unit_micros", "unit_field", "max_units"}
)
MAX_MICROS = 10**15  # a billion dollars: any larger price is a typo
MAX_UNITS = 10**9
SERVER_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class McpPriceError(ValueError):
    """A tool price that cannot be charged exactly; the message names server and tool."""


@dataclass(frozen=True, slots=True)
class ToolPrice:
    per_call_micros: int = 0
    per_unit_micros: int = 0
    unit_field: tuple[str, ...] = ()  # the result field's path; () when priced per call only
    max_units: int = 0

    @property
    def worst_case_micros(self) -> int:
        """What a call holds: its fixed price and its most units."""
        return self.per_call_micros + self.per_unit_micros * self.max_units

    def billed_units(self, units: int) -> int:
        """The units a call that reported `units` is billed for: at most `max_units`, what
        the hold covered. The ledger row records these, so its debit re-derives from it."""
        return min(max(units, 0), self.max_units)

    def cost_micros(self, units: int) -> int:
        """The debit of a call that used `units` (capped at `max_units`: never above the hold)."""
        return self.per_call_micros + self.per_unit_micros * self.billed_units(units)

    def units_in(self, result: Mapping[str, object]) -> int | None:
        """The units a successful result reports; None when the field is absent or not a
        whole number (the caller then bills the worst case it held)."""
        value: object = result
        for part in self.unit_field:
            if not isinstance(value, Mapping) or part not in value:
                return None
            value = value[part]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return None
        return value


def _micros(where: str, entry: Mapping[str, object], name: str) -> int:
    """`name` as a decimal USD string or `name_micros` as whole micros; 0 when neither."""
    dollars, micros = entry.get(name), entry.get(f"{name}_micros")
    if dollars is not None and micros is not None:
        raise McpPriceError(f"{where}: give {name} or {name}_micros, not both")
    if micros is not None:
        if isinstance(micros, bool) or not isinstance(micros, int) or micros < 0:
            raise McpPriceError(f"{where}: {name}_micros must be a whole number >= 0")
        value = micros
    elif dollars is not None:
        if not isinstance(dollars, str):
            raise McpPriceError(
                f'{where}: {name} must be a decimal string such as "0.002" (a TOML float is'
                f" not exact), got {dollars!r}"
            )
        try:
            value = parse_usd(dollars)
        except MoneyFormatError as exc:
            raise McpPriceError(f"{where}: {name} {dollars!r} is not exact in micros") from exc
        if value < 0:
            raise McpPriceError(f"{where}: {name} is negative")
    else:
        return 0
    if value > MAX_MICROS:
        raise McpPriceError(f"{where}: {name} is above {MAX_MICROS} micros")
    return value


def _units(where: str, entry: Mapping[str, object], per_unit: int) -> tuple[tuple[str, ...], int]:
    field, most = entry.get("unit_field"), entry.get("max_units")
    if not per_unit:
        if field is not None or most is not None:
            raise McpPriceError(f"{where}: unit_field and max_units need per_unit")
        return (), 0
    if not isinstance(field, str) or not all(field.split(".")):
        raise McpPriceError(
            f"{where}: a per-unit price needs unit_field, a dotted path into the result"
            ' such as "structuredContent.pages"'
        )
    if isinstance(most, bool) or not isinstance(most, int) or not 1 <= most <= MAX_UNITS:
        raise McpPriceError(
            f"{where}: a per-unit price needs max_units, the most units one call may use"
            " (the hold covers them), a whole number >= 1"
        )
    return tuple(field.split(".")), most


def parse_tool_price(server: str, tool: str, entry: object) -> ToolPrice:
    where = f"[mcp.{server}.tools.{tool}]"
    if not isinstance(entry, Mapping):
        raise McpPriceError(f"{where} must be a table")
    unknown = sorted(set(entry) - FIELDS)
    if unknown:
        raise McpPriceError(f"{where}: unknown field(s) {unknown}")
    per_call, per_unit = _micros(where, entry, "per_call"), _micros(where, entry, "per_unit")
    if "per_call" not in entry and "per_call_micros" not in entry and not per_unit:
        raise McpPriceError(f"{where}: name a price: per_call or per_unit (or their _micros)")
    field, most = _units(where, entry, per_unit)
    return ToolPrice(per_call, per_unit, field, most)


def parse_tool_prices(server: str, tools: object) -> dict[str, ToolPrice]:
    if not isinstance(tools, Mapping):
        raise McpPriceError(f"[mcp.{server}.tools] must be a table of tools")
    return {str(name): parse_tool_price(server, str(name), e) for name, e in tools.items()}


MODEL_PREFIX = "mcp:"  # a tool call's ledger model: what reports tell tool calls apart by


def ledger_model(server: str, tool: str) -> str:
    """The model a tool call's ledger row names: usage reports, exports and statements group
    by it like any model, and count it as a tool call by its prefix."""
    return f"{MODEL_PREFIX}{server}/{tool}"


def is_tool_call(model: str) -> bool:
    return model.startswith(MODEL_PREFIX)
