"""Usage rollups: per-day sums of debits by (account, model, key, meter), never read from
the ledger. A metered debit counts its units in `quantity` and is not a request. Beside the
spend (what was charged) they sum the provider cost (a debit without one, a meter or a row
from before markups, cost what it charged), so a report shows the gross margin.

ROLLUP_CTE is spliced into the settler's merge statement, so a rollup row changes in the same
transaction as the ledger rows it sums, counting only rows that insert actually added (a
re-delivered settlement adds nothing to either). Reports read only this table.
"""

from __future__ import annotations

from billing.pricing.mcp_prices import MODEL_PREFIX
from billing.usage.tags import GROUP_PREFIX, tag_of
from gateway.stores.records import COST_FIELDS, USAGE_FIELDS

# The units beyond tokens a debit's usage_detail holds: images of any size and quality
# (`images_SIZE_QUALITY`), seconds of audio, characters (billing/pricing/units.py).
IMAGES_SQL = (
    "CASE WHEN usage_detail IS NULL THEN 0 ELSE (SELECT coalesce(sum(v::bigint), 0)"
    " FROM jsonb_each_text(usage_detail) AS d(k, v) WHERE left(k, 7) = 'images_') END"
)
# The same three units of a ledger row, as the rollups and the analytics copy read them.
UNITS_SQL = (
    f"{IMAGES_SQL} AS images,"
    " coalesce((usage_detail->>'audio_seconds')::bigint, 0) AS audio_seconds,"
    " coalesce((usage_detail->>'input_characters')::bigint, 0) AS characters"
)
ROLLUP_RETURNING = (
    "kind, key_id, model, input_tokens, cached_input_tokens, cache_write_tokens,"
    " output_tokens, reasoning_tokens, occurred_at, meter, quantity, provider_cost_micros,"
    f" {UNITS_SQL}, end_user, tags"
)
_SUMS_OF_INS = """
    SELECT account_id, (occurred_at AT TIME ZONE 'UTC')::date, coalesce(model, ''),
           coalesce(key_id, ''), count(*) FILTER (WHERE meter IS NULL), sum(input_tokens),
           sum(cached_input_tokens), sum(cache_write_tokens), sum(output_tokens),
           sum(reasoning_tokens), -sum(amount_micros), max(occurred_at), coalesce(meter, ''),
           coalesce(sum(quantity), 0), sum(coalesce(provider_cost_micros, -amount_micros)),
           sum(images), sum(audio_seconds), sum(characters)"""
_ADD_UP = """
        requests = r.requests + excluded.requests,
        input_tokens = r.input_tokens + excluded.input_tokens,
        cached_input_tokens = r.cached_input_tokens + excluded.cached_input_tokens,
        cache_write_tokens = r.cache_write_tokens + excluded.cache_write_tokens,
        output_tokens = r.output_tokens + excluded.output_tokens,
        reasoning_tokens = r.reasoning_tokens + excluded.reasoning_tokens,
        spend_micros = r.spend_micros + excluded.spend_micros,
        quantity = r.quantity + excluded.quantity,
        provider_cost_micros = r.provider_cost_micros + excluded.provider_cost_micros,
        images = r.images + excluded.images,
        audio_seconds = r.audio_seconds + excluded.audio_seconds,
        characters = r.characters + excluded.characters,
        last_at = greatest(r.last_at, excluded.last_at)"""
ROLLUP_CTE = f"""
roll AS (
    INSERT INTO usage_rollups AS r{_SUMS_OF_INS}
    FROM ins WHERE kind = 'debit' GROUP BY 1, 2, 3, 4, 13
    ON CONFLICT (account_id, day, model, key_id, meter) DO UPDATE SET{_ADD_UP}
    RETURNING 1
)"""
# Per UTC hour, an LLM call's requests and spend by key and model (migration 095): the
# baseline billing/trust/anomalies.py compares an hour with, and the newest request id as evidence.
HOUR_ROLLUP_CTE = """
roll_hours AS (
    INSERT INTO usage_hours AS r
    SELECT account_id, coalesce(key_id, ''), date_trunc('hour', occurred_at),
           coalesce(model, ''), count(*), -sum(amount_micros), max(request_id), max(occurred_at)
    FROM ins WHERE kind = 'debit' AND meter IS NULL GROUP BY 1, 2, 3, 4
    ON CONFLICT (account_id, key_id, hour, model) DO UPDATE SET
        requests = r.requests + excluded.requests,
        spend_micros = r.spend_micros + excluded.spend_micros,
        last_request_id = greatest(r.last_request_id, excluded.last_request_id),
        last_at = greatest(r.last_at, excluded.last_at)
    RETURNING 1
)"""
# The same sums per end user, of the debits that name one (migration 043).
END_USER_ROLLUP_CTE = f"""
roll_end_users AS (
    INSERT INTO end_user_rollups AS r{_SUMS_OF_INS}, end_user
    FROM ins WHERE kind = 'debit' AND end_user IS NOT NULL GROUP BY 1, 2, 3, 4, 13, end_user
    ON CONFLICT (account_id, day, end_user, model, key_id, meter) DO UPDATE SET{_ADD_UP}
    RETURNING 1
)"""
# The same sums per value of each tag the debits carry (migration 085).
TAG_ROLLUP_CTE = f"""
roll_tags AS (
    INSERT INTO usage_tag_rollups AS r{_SUMS_OF_INS}, t.key, t.value
    FROM ins, jsonb_each_text(ins.tags) AS t WHERE kind = 'debit' AND tags IS NOT NULL
    GROUP BY 1, 2, 3, 4, 13, t.key, t.value
    ON CONFLICT (account_id, tag_name, day, tag_value, model, key_id, meter) DO UPDATE SET{_ADD_UP}
    RETURNING 1
)"""
_FIELDS = (*USAGE_FIELDS, *COST_FIELDS)
_SUMS = ", ".join(f"sum(u.{c})::bigint AS {c}" for c in _FIELDS)
# What a rollup row is a use of, in words a filter takes: a meter's units, else the first
# unit beyond tokens it counts, else tokens (a rollup row is one model's, so one kind).
_KIND = (
    f"CASE WHEN u.meter <> '' THEN 'metered' WHEN u.model LIKE '{MODEL_PREFIX}%' THEN 'tools'"
    " WHEN u.images <> 0 THEN 'images'"
    " WHEN u.audio_seconds <> 0 THEN 'audio' WHEN u.characters <> 0 THEN 'speech'"
    " ELSE 'tokens' END"
)
# Every dimension usage is bucketed or filtered by: its name and the SQL of a rollup row's
# value (u the rollup, k its key). A team's or a member's usage is its keys' (the team a key
# is in now, the member who made it; '' for none). One more dimension is one more line here.
DIMENSIONS = {
    "day": "u.day::text",
    "week": "date_trunc('week', u.day)::date::text",
    "month": "date_trunc('month', u.day)::date::text",
    "model": "u.model",
    "key": "u.key_id",
    "meter": "u.meter",
    "team": "coalesce(k.team_id, '')",
    "member": "coalesce(k.member_id, '')",
    "kind": _KIND,
    "end_user": "u.end_user",
}
_COLUMNS = "account_id, day, model, key_id, meter"
# By end user, the rows are end_user_rollups' and, as end user '', the rest of the usage:
# usage_rollups less what end users used (PostgreSQL pushes the WHERE into each branch).
_WITH_END_USERS = (
    f"(SELECT {_COLUMNS}, end_user, {', '.join(_FIELDS)} FROM end_user_rollups"
    f" UNION ALL SELECT {_COLUMNS}, '', {', '.join(_FIELDS)} FROM usage_rollups"
    f" UNION ALL SELECT {_COLUMNS}, '', {', '.join('-' + c for c in _FIELDS)}"
    " FROM end_user_rollups)"
)


# By a tag ($n its name), the rows are usage_tag_rollups' and, as value '', the rest of the
# usage: a debit carries one value of a tag at most.
_WITH_TAG = (
    f"(SELECT {_COLUMNS}, tag_value, {', '.join(_FIELDS)} FROM usage_tag_rollups"
    " WHERE tag_name = ${n}"
    f" UNION ALL SELECT {_COLUMNS}, '', {', '.join(_FIELDS)} FROM usage_rollups"
    f" UNION ALL SELECT {_COLUMNS}, '', {', '.join('-' + c for c in _FIELDS)}"
    " FROM usage_tag_rollups WHERE tag_name = ${n})"
)


def _source(by: tuple[str, ...], filters: tuple[str, ...]) -> str:
    """One end user's usage is in end_user_rollups; usage by end user needs the rest too;
    usage by a tag is in usage_tag_rollups, with the rest as ''."""
    if tag_of(by, filters) is not None:
        return _WITH_TAG.replace("{n}", str(4 + len(filters)))
    if "end_user" in filters:
        return "end_user_rollups"
    return _WITH_END_USERS if "end_user" in by else "usage_rollups"


def _dimension(d: str) -> str:
    return "u.tag_value" if d.startswith(GROUP_PREFIX) else DIMENSIONS[d]


def series_sql(by: tuple[str, ...], filters: tuple[str, ...]) -> str:
    """Sums per combination of the `by` dimensions over [$2, $3) (UTC days) of account $1,
    where each dimension of `filters` equals its parameter ($4, $5, ... in that order);
    ordered by the dimensions. Names are checked against DIMENSIONS (never spliced raw); a
    `tag:<name>` word (billing/usage/tags.py's `tag_of`: a TagSpecError, a ValueError, for one it
    refuses) takes its name as the parameter after the filters'.
    By end user or tag, the '' bucket (calls that named none) is left out where it sums to
    nothing."""
    tag = tag_of(by, filters)
    words = {f"{GROUP_PREFIX}{tag}"} if tag is not None else set()
    unknown = [d for d in by if d not in DIMENSIONS and d not in words]
    unknown += [d for d in filters if d not in DIMENSIONS]
    if unknown or not by:
        raise ValueError(f"unknown usage dimensions {unknown} (or none to group by)")
    cols = ", ".join(f'{_dimension(d)} AS "{d}"' for d in by)
    where = "".join(f" AND {DIMENSIONS[d]} = ${i}" for i, d in enumerate(filters, start=4))
    uses_key = any(d in ("team", "member") for d in (*by, *filters))
    order = ", ".join(str(i) for i in range(1, len(by) + 1))
    having = ""
    own = "u.tag_value" if tag is not None else "u.end_user"
    if tag is not None or ("end_user" in by and "end_user" not in filters):
        having = f" HAVING {own} <> '' OR " + " OR ".join(f"sum(u.{c}) <> 0" for c in _FIELDS)
    return (
        f"SELECT {cols}, {_SUMS} FROM {_source(by, filters)} u"
        + (" LEFT JOIN api_keys k ON k.id = u.key_id" if uses_key else "")
        + f" WHERE u.account_id = $1 AND u.day >= $2 AND u.day < $3{where}"
        f" GROUP BY {order}{having} ORDER BY {order}"
    )
