"""Usage rollups: per-day sums of debits by (account, model, key, meter), never read from
the ledger. A metered debit counts its units in `quantity` and is not a request. Beside the
spend (what was charged) they sum the provider cost (a debit without one, a meter or a row
from before markups, cost what it charged), so a report shows the gross margin.

ROLLUP_CTE is spliced into the settler's merge statement, so a rollup row changes in the same
transaction as the ledger rows it sums, counting only rows that insert actually added (a
re-delivered settlement adds nothing to either). Reports read only this table.
"""

from __future__ import annotations

from gateway.stores.records import COST_FIELDS, USAGE_FIELDS

# The units beyond tokens a debit's usage_detail holds: images of any size and quality
# (`images_SIZE_QUALITY`), seconds of audio, characters (billing/pricing/units.py).
_IMAGES = (
    "CASE WHEN usage_detail IS NULL THEN 0 ELSE (SELECT coalesce(sum(v::bigint), 0)"
    " FROM jsonb_each_text(usage_detail) AS d(k, v) WHERE left(k, 7) = 'images_') END"
)
ROLLUP_RETURNING = (
    "kind, key_id, model, input_tokens, cached_input_tokens, cache_write_tokens,"
    " output_tokens, reasoning_tokens, occurred_at, meter, quantity, provider_cost_micros,"
    f" {_IMAGES} AS images,"
    " coalesce((usage_detail->>'audio_seconds')::bigint, 0) AS audio_seconds,"
    " coalesce((usage_detail->>'input_characters')::bigint, 0) AS characters, end_user"
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
# The same sums per end user, of the debits that name one (migration 043).
END_USER_ROLLUP_CTE = f"""
roll_end_users AS (
    INSERT INTO end_user_rollups AS r{_SUMS_OF_INS}, end_user
    FROM ins WHERE kind = 'debit' AND end_user IS NOT NULL GROUP BY 1, 2, 3, 4, 13, end_user
    ON CONFLICT (account_id, day, end_user, model, key_id, meter) DO UPDATE SET{_ADD_UP}
    RETURNING 1
)"""
# A team's or a member's usage is its keys' (the team a key is in now, the member who made
# it; '' for none), found by joining each rollup row's key.
_BUCKET = {
    "day": "u.day::text",
    "model": "u.model",
    "key": "u.key_id",
    "meter": "u.meter",
    "team": "coalesce(k.team_id, '')",
    "member": "coalesce(k.member_id, '')",
}
_FIELDS = (*USAGE_FIELDS, *COST_FIELDS)
_SUMS = ", ".join(f"sum(u.{c})::bigint AS {c}" for c in _FIELDS)
# $1 account, $2, $3 days, $4 one model or NULL, $5 one key or NULL, $6 one meter or NULL
# ('' for LLM calls), $7 one end user or NULL.
_WHERE = (
    " WHERE u.account_id = $1 AND u.day >= $2 AND u.day < $3"
    " AND ($4::text IS NULL OR u.model = $4) AND ($5::text IS NULL OR u.key_id = $5)"
    " AND ($6::text IS NULL OR u.meter = $6)"
)
_EACH = " AND ($7::text IS NULL OR u.end_user = $7)"


def _report(group: str, bucket: str, table: str) -> str:
    join = " LEFT JOIN api_keys k ON k.id = u.key_id" if group in ("team", "member") else ""
    where = _WHERE + (_EACH if table == "end_user_rollups" else " AND $7::text IS NULL")
    return f"SELECT {bucket} AS bucket, {_SUMS} FROM {table} u{join}{where} GROUP BY 1 ORDER BY 1"


# Per end user: each end user's rollups, and '' for the debits that named none (all the
# usage less what end users used), left out when that is nothing.
_SIGNED = {1: ", ".join(f"u.{c}" for c in _FIELDS), -1: ", ".join(f"-u.{c}" for c in _FIELDS)}
_BY_END_USER = (
    "SELECT bucket, " + ", ".join(f"sum({c})::bigint AS {c}" for c in _FIELDS) + " FROM ("
    f"SELECT u.end_user AS bucket, {_SIGNED[1]} FROM end_user_rollups u{_WHERE}{_EACH}"
    f" UNION ALL SELECT '', {_SIGNED[1]} FROM usage_rollups u{_WHERE} AND $7::text IS NULL"
    f" UNION ALL SELECT '', {_SIGNED[-1]} FROM end_user_rollups u{_WHERE} AND $7::text IS NULL"
    ") x GROUP BY 1 HAVING bucket <> '' OR "
    + " OR ".join(f"sum({c}) <> 0" for c in _FIELDS)
    + " ORDER BY 1"
)
# Sums per bucket over [start, end) (UTC days), ordered by bucket: from usage_rollups, or,
# for one end user (ONE_END_USER), from end_user_rollups.
REPORT_SQL = {group: _report(group, bucket, "usage_rollups") for group, bucket in _BUCKET.items()}
REPORT_SQL["end_user"] = _BY_END_USER
ONE_END_USER = {
    group: _report(group, bucket, "end_user_rollups") for group, bucket in _BUCKET.items()
}
ONE_END_USER["end_user"] = _report("end_user", "u.end_user", "end_user_rollups")
