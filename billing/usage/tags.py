"""Tags for chargeback: a flat map of name to value an operator or an organization's admin
sets on a key or a team (cost center, project). A key's effective tags are its team's with
its own laid over them, as the settler's merge copies them onto each debit
(stores/postgres/ledger.py: jsonb's `||`); reports group by one.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

MAX_TAGS = 10
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
VALUE_MAX = 100
# Printable: no control character (C0, DEL, C1). The OpenAPI pattern too (ECMA and Python
# read it alike), with the length bounds beside it.
VALUE_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f]*$"
_NAME = re.compile(NAME_PATTERN)
_VALUE = re.compile(VALUE_PATTERN)
# The group-by (and filter) word of one tag's values in usage reports.
GROUP_PREFIX = "tag:"
TAG_GROUP_PATTERN = "^tag:" + NAME_PATTERN[1:]
# What a tag group goes with in a usage series: the time buckets only.
TAG_GROUP_WITH = frozenset({"day", "week", "month"})

Tags = dict[str, str]


class TagSpecError(ValueError):
    """Tags given by a caller are malformed; the message says which."""


def _valid_value(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= VALUE_MAX and bool(_VALUE.fullmatch(value))


def parse_tags(raw: object) -> Tags:
    """Checked tags from a request body's `tags`: an object of at most MAX_TAGS names
    (`[a-z][a-z0-9_]{0,39}`) to values of 1-100 printable characters."""
    if not isinstance(raw, dict):
        raise TagSpecError("'tags' must be an object of tag names to values.")
    if len(raw) > MAX_TAGS:
        raise TagSpecError(f"'tags' holds at most {MAX_TAGS} tags.")
    for name, value in raw.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise TagSpecError(
                f"Tag name {name!r} must be a lower-case letter then up to 39 of a-z, 0-9, _."
            )
        if not _valid_value(value):
            raise TagSpecError(
                f"Tag {name!r} must have a value of 1-{VALUE_MAX} printable characters."
            )
    return dict(sorted(raw.items()))


def tag_group(word: str) -> str | None:
    """The tag name a group-by word `tag:<name>` names; None when it is no tag word. A word
    with the prefix and a malformed name raises TagSpecError."""
    if not word.startswith(GROUP_PREFIX):
        return None
    name = word[len(GROUP_PREFIX) :]
    if not _NAME.fullmatch(name):
        raise TagSpecError(f"{word!r} names no valid tag.")
    return name


def tag_of(by: Sequence[str], filters: Collection[str] = ()) -> str | None:
    """The tag name the `tag:<name>` word of a usage series' dimensions names, or None;
    TagSpecError for a malformed one, two of them, one beside a dimension other than a time
    bucket, or one filtered by end user (end users' usage has its own rollups)."""
    words = [d for d in by if d.startswith(GROUP_PREFIX)]
    if not words:
        return None
    name = tag_group(words[0])
    if len(words) > 1 or not set(by) - {words[0]} <= TAG_GROUP_WITH or "end_user" in filters:
        raise TagSpecError("A tag is grouped alone or by day, week or month, of any end user.")
    return name
