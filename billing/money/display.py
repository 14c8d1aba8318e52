"""Money and names as people read them: one home for every surface (dashboard, CLI, e-mail).

Amounts stay exact integers everywhere else; only here are they rounded, and only for the
eye. Two kinds of amount, two formats, so a column never mixes "$9.975423" with "$0.002":

- balances, totals and payments (`usd`): dollars and cents, rounded down (toward minus
  infinity) to the cent, so a balance never shows a cent it does not hold ($9.999992 is
  $9.99, and 8 micros spent off $10.00 shows), and a non-zero amount under a cent reads
  "< $0.01", never "$0.00";
- what one request or one ledger row costs (`usd_cost`): six decimals, the unit money is
  kept in, so "-$0.000120" stands beside "-$0.002000".

- an amount a person confirms before it moves (`usd_exact`): exact, zeros trimmed to cents;
- a statement's line (`usd_line`): exact as well, so a line never rounds to a whole cent,
  and a non-zero line under a cent reads "< $0.01" ("-< $0.01" for a debit).

The exact figure is always in the API, in micros. What people type comes back through
`parse_dollars`, the one reader of typed dollars ("$5", "5.00").
"""

from __future__ import annotations

import re

from billing.money.micros import MAX_EXACT, MICROS_PER_USD

MICROS_PER_CENT = 10_000
# "$5", "5", "5.00", "$1,234.50", ".50": a dollar sign, digits (grouped by threes or not),
# at most six decimals (one micro). Nothing else: no sign, no exponent, no spaces inside, and
# ASCII digits only (as billing/money.parse_usd and gateway/http/whole.py read numbers): '٣'
# or a full-width 5 is no digit a person means.
_DOLLARS = re.compile(r"\$?(?P<whole>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]*)(?:\.(?P<frac>[0-9]*))?")
ASCII_SPACE = " \t\n\r\x0b\x0c"
# The largest amount read: every figure a person types fits the exact integers of a double
# (what Redis's Lua holds), so 5,000 digits are refused before int() sees them.
MAX_DOLLAR_DIGITS = len(str(MAX_EXACT // MICROS_PER_USD))
SMALL = "< $0.01"


class DollarsError(ValueError):
    """Typed text that is not an amount in dollars; `field` names the form field."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def parse_dollars(text: str, field: str = "amount") -> int:
    """What a person types as money ("$5", "5.00", "$1,234.50") as exact micros.

    The one parser for dollars typed into a form or the CLI: integer arithmetic only, so
    "0.1" is 100,000 micros exactly; more than six decimals is refused, never rounded."""
    raw = text.strip(ASCII_SPACE)
    found = _DOLLARS.fullmatch(raw) if raw.isascii() else None
    whole = found["whole"].replace(",", "") if found else ""
    frac = (found["frac"] or "") if found else ""
    if found is None or not (whole or frac) or (found["frac"] is not None and not frac):
        raise DollarsError(f"{field} must be an amount in dollars, like $5 or 12.50.", field)
    if len(frac) > 6:
        raise DollarsError(f"{field} cannot be finer than $0.000001 (one micro).", field)
    too_big = DollarsError(f"{field} is more than {usd_exact(MAX_EXACT)}.", field)
    if len(whole.lstrip("0")) > MAX_DOLLAR_DIGITS:
        raise too_big
    micros = int(whole or "0") * MICROS_PER_USD + int(frac.ljust(6, "0"))
    if micros > MAX_EXACT:
        raise too_big
    return micros


SPEND = "spend"  # the metric as people name it: its limit is typed in dollars


def quota_limit(metric: str, text: str) -> tuple[str, int]:
    """A typed quota row's metric and limit, for the API: "spend" takes dollars ("5" is
    $5, sent as spend_micros 5,000,000); "spend_micros" and every count take a whole
    number (ASCII digits, at most 2^53-1 as gateway/http/whole.py bounds a quota), so a
    script's exact micros still pass."""
    if metric == SPEND:
        return "spend_micros", parse_dollars(text, "A spend limit")
    digits = text.strip(ASCII_SPACE)
    long = len(digits.lstrip("0")) > MAX_DOLLAR_DIGITS + 6
    if long or not digits.isascii() or not digits.isdigit() or int(digits) > MAX_EXACT:
        raise DollarsError("Each limit must be a whole number.", "limit")
    return metric, int(digits)


def usd(micros: int) -> str:
    """A balance, total or payment: "$1,234.50", "-$0.02" (rounded down to the cent); a
    non-zero amount under a cent reads "< $0.01", so a balance that still pays for a
    request never reads "$0.00" beside a 402 that names it."""
    if 0 < micros < MICROS_PER_CENT:
        return SMALL
    cents = micros // MICROS_PER_CENT
    whole, frac = divmod(abs(cents), 100)
    return f"{'-' if cents < 0 else ''}${whole:,}.{frac:02d}"


def usd_exact(micros: int) -> str:
    """An amount a person confirms before money moves, or reads in an error about one:
    exact, zeros trimmed to cents ("$2.50", "$0.000450"), so nothing is rounded away."""
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), MICROS_PER_USD)
    return f"{sign}${whole:,}.{f'{frac:06d}'.rstrip('0').ljust(2, '0')}"


def usd_line(micros: int) -> str:
    """A statement's line (usage, credits, refunds): exact, never rounded to a cent, so
    $0.00045 of usage is not "-$0.01"; under a cent it reads "< $0.01", signed."""
    if 0 < abs(micros) < MICROS_PER_CENT:
        return f"{'-' if micros < 0 else ''}{SMALL}"
    return usd_exact(micros)


def usd_cost(micros: int) -> str:
    """One request's or one ledger row's amount, exact: "$0.000120", "-$1,234.500000"."""
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), MICROS_PER_USD)
    return f"{sign}${whole:,}.{frac:06d}"


METRICS = {
    "requests": "requests",
    "input_tokens": "input tokens",
    "output_tokens": "output tokens",
    "tokens": "tokens",
    "spend_micros": "spend",
}
WINDOWS = {
    "minute": "per minute",
    "hour": "per hour",
    "day": "per day",
    "week": "per week",
    "month": "per month",
    "total": "in total",
}
UNITS = {"second": "seconds", "gb_second": "GB-seconds", "byte": "bytes", "request": "calls"}


def meter_label(name: str) -> str:
    """A meter's code as words: "gpu_seconds" -> "GPU seconds", "egress_bytes" -> "egress bytes"."""
    words = name.split("_")
    return " ".join(w.upper() if w in ("gpu", "cpu", "gb", "tpu") else w for w in words)


def metric_label(metric: str) -> str:
    """A quota metric as words: "spend_micros" -> "spend", "meter:gpu_seconds" -> "GPU seconds"."""
    if metric.startswith("meter:"):
        return meter_label(metric.removeprefix("meter:"))
    return METRICS.get(metric, metric.replace("_", " "))


def window_label(window: str) -> str:
    return WINDOWS.get(window, f"per {window}")


def quota_label(window: str, metric: str) -> str:
    """A quota window as words: "requests per minute", "spend per month", "tokens in total"."""
    return f"{metric_label(metric)} {window_label(window)}"


def quota_amount(metric: str, amount: int) -> str:
    """A window's used or limit figure: dollars for spend, else a grouped count."""
    return usd(amount) if metric == "spend_micros" else f"{amount:,}"


def usd_input(micros: int) -> str:
    """An amount as a form field holds it: exact, plain, at least cents ("12.50", "0.123456"),
    so saving a form unchanged never changes the amount."""
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), MICROS_PER_USD)
    return f"{sign}{whole}.{f'{frac:06d}'.rstrip('0').ljust(2, '0')}"


def usage_label(group_by: str, value: str | None) -> str:
    """A usage row's name: rollups hold meter debits under no model and LLM calls under no
    meter, so neither reads as an unlabelled "—"."""
    if group_by == "model":
        return value or "Metered usage (meters)"
    if group_by == "meter":
        return meter_label(value) if value else "LLM calls"
    if group_by == "key":
        return value or "Metered usage (no key)"
    if group_by == "end_user":
        return value or "No end user named"
    return value or "—"


def lifetime(seconds: int) -> str:
    """How long something lasts, to the nearest whole day from a day up ("30 days": a
    30-day token answered with a few seconds already gone is still 30 days), else in hours
    and minutes."""
    days = (seconds + 43_200) // 86_400
    if days >= 1:
        return f"{days} day{'s' if days > 1 else ''}"
    return time_left(seconds).removeprefix("in ")


def time_left(seconds: int) -> str:
    """How long until a moment, in the two largest units: "in 40 s", "in 12 min",
    "in 3 h 5 min", "in 2 days 4 h"; "now" when it is due."""
    if seconds <= 0:
        return "now"
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"in {days} day{'s' if days > 1 else ''}" + (f" {hours} h" if hours else "")
    if hours:
        return f"in {hours} h" + (f" {minutes} min" if minutes else "")
    return f"in {minutes} min" if minutes else f"in {secs} s"
