"""One meaning for a date a person gives as an expiry: the end of that day in the gateway's
quota time zone (QUOTA_TIMEZONE), the zone its daily windows reset in. `--expires
2026-12-31` on the CLI, the dashboard's date field and `"expires_at": "2026-12-31"` on the
API all end at 23:59:59 that day there; an instant with an offset stays that instant.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

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
