-- What the quota windows counted in a month that `meterway ledger retention` detached, so
-- `meterway rebuild` still counts it in a `total` window (the only window that can reach a
-- detachable month: retention keeps the current and the last month live). Per archive
-- table, account, key and meter, the debit sums in the windows' metrics, summed as the
-- rebuild sums live debits (gateway/stores/postgres/window_usage.py): requests (LLM calls
-- only), input tokens (with cached and cache-write), output tokens, spend, and a meter's
-- quantity; and how many debits (meter usage counts events). Written by the transaction
-- that detaches the month; never changed.
CREATE TABLE ledger_archived_usage (
    archive_table text NOT NULL,
    month         date NOT NULL,
    account_id    text NOT NULL REFERENCES accounts (id),
    key_id        text,
    meter         text,
    requests      bigint NOT NULL,
    input_tokens  bigint NOT NULL,
    output_tokens bigint NOT NULL,
    spend_micros  bigint NOT NULL,
    quantity      bigint NOT NULL,
    debits        bigint NOT NULL,
    archived_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (archive_table, account_id, key_id, meter)
);
CREATE TRIGGER ledger_archived_usage_no_update BEFORE UPDATE OR DELETE ON ledger_archived_usage
    FOR EACH ROW EXECUTE FUNCTION ledger_immutable();

-- Months archived before this migration: summed from their archive tables, those still
-- there (an operator may have dropped one; its windows' share cannot come back).
DO $$
DECLARE
    a record;
BEGIN
    FOR a IN SELECT DISTINCT archive_table, month FROM ledger_archived_sums
             WHERE to_regclass(archive_table) IS NOT NULL LOOP
        EXECUTE format(
            'INSERT INTO ledger_archived_usage (archive_table, month, account_id, key_id,'
            ' meter, requests, input_tokens, output_tokens, spend_micros, quantity, debits)'
            ' SELECT %L, %L, account_id, key_id, meter, count(*) FILTER (WHERE meter IS NULL),'
            ' sum(input_tokens + cached_input_tokens + cache_write_tokens), sum(output_tokens),'
            ' -sum(amount_micros), coalesce(sum(quantity), 0), count(*)'
            ' FROM %I WHERE kind = ''debit'' GROUP BY account_id, key_id, meter',
            a.archive_table, a.month, a.archive_table);
    END LOOP;
END $$;
