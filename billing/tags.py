"""Tags for chargeback: a flat map of name to value an operator or an organization's admin
sets on a key or a team (cost center, project). A key's effective tags are its team's with
its own laid over them; the settler copies them onto each debit, and reports group by one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

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

Tags = dict[str, str]


class TagSpecError(ValueError):
    """Tags given by a caller are malformed; the message says which."""


def _valid_value(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= VALUE_MAX and bool(_VALUE.match(value))


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


def effective_tags(team: Mapping[str, str] | None, own: Mapping[str, str]) -> Tags:
    """A key's tags: its team's, overlaid by its own."""
    return dict(sorted({**(team or {}), **own}.items()))


def tag_group(word: str) -> str | None:
    """The tag name a group-by word `tag:<name>` names; None when it is no tag word. A word
    with the prefix and a malformed name raises TagSpecError."""
    if not word.startswith(GROUP_PREFIX):
        return None
    name = word[len(GROUP_PREFIX) :]
    if not _NAME.fullmatch(name):
        raise TagSpecError(f"{word!r} names no valid tag.")
    return name
