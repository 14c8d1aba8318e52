"""What the API accepts in some of its fields, in one place that the handlers which check
them and the OpenAPI document which promises them both read (neither imports the other)."""

from __future__ import annotations

import re

from gateway.http.bodies import SPACE

ALERT_KINDS = ("balance_below", "spend_above")
ALERT_PERIODS = ("day", "month")
_NOT = rf"@{SPACE}\x00-\x1f\x7f"  # str.isspace() spelled out: ECMA's \s is not Python's
EMAIL = re.compile(rf"^[^{_NOT}]{{1,64}}@[^{_NOT}]{{1,253}}\.[^{_NOT}.]{{1,63}}$")
MAX_URL = 2048
# A webhook URL the OpenAPI document promises the alert routes take (they take some more).
WEB_URL_PATTERN = r"^https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:[/?#][!-~]*)?$"
MAX_AUDIT_PAGE = 500  # records in one page of the audit log
MAX_SEARCH = 200  # accounts in one page of the operator's search
EXPORT_ID_MAX = 255  # an id at Stripe or Lago
MAX_GRACE_S = 7 * 86400  # a rotated key's old secret works at most this long
