"""One meaning for a date a person gives as an expiry: the end of that day in the gateway's
quota time zone (QUOTA_TIMEZONE), the zone its daily windows reset in. `--expires
2026-12-31` on the CLI, the dashboard's date field and `"expires_at": "2026-12-31"` on the
API all end at 23:59:59 that day there; an instant with an offset stays that instant.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from billing.money.display import time_left

BARE_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class NoOffset(ValueError):
    """An instant without a UTC offset: ambiguous, so refused."""


def end_of_day(day: date, zone: str) -> datetime:
    """The last second of `day` in `zone`, as a UTC instant."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def expiry(text: str, zone: str) -> datetime:
    """A typed expiry: a bare date is the end of that day in `zone`; anything else is an
    RFC 3339 instant, which must carry its offset. ValueError when it is neither."""
    if BARE_DATE.fullmatch(text):
        return end_of_day(date.fromisoformat(text), zone)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise NoOffset(text)
    return moment


def in_zone(moment: datetime, zone: str) -> str:
    """An instant as people read it in `zone`, the zone named: "2026-12-31 23:59 Europe/Paris"."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M ") + zone


def human(moment: datetime | str | None, now: datetime | None = None, none: str = "never") -> str:
    """An instant as a person reads it, in UTC to the minute: "26 Nov 2026 14:05 UTC"; with
    `now`, how far off it is too, when that helps (within a month): "26 Nov 2026 14:05 UTC
    (in 3 days)", "(2 h ago)". An RFC 3339 text is read first; no instant reads `none`. The
    one way the CLI and the audit log write a time."""
    if moment is None or moment == "":
        return none
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    text = moment.astimezone(UTC).strftime("%d %b %Y %H:%M UTC").lstrip("0")
    if now is None:
        return text
    seconds = int((moment - now).total_seconds())
    if abs(seconds) > 31 * 86_400:
        return text
    return f"{text} ({_distance(seconds)})"


def _distance(seconds: int) -> str:
    """ "in 3 days", "2 h ago", "now": the two largest units, as display.time_left says them."""
    if abs(seconds) < 60:
        return "now"
    ahead = time_left(abs(seconds))
    return ahead if seconds > 0 else f"{ahead.removeprefix('in ')} ago"
