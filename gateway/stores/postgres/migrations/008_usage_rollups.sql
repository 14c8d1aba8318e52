-- Per-day usage of each (account, model, key), kept by the settler in the same transaction
-- as the ledger rows it sums, so usage reports never scan the ledger. Days are UTC days.
CREATE TABLE usage_rollups (
    account_id          text NOT NULL REFERENCES accounts (id),
    day                 date NOT NULL,
    model               text NOT NULL,
    key_id              text NOT NULL,
    requests            bigint NOT NULL,
    input_tokens        bigint NOT NULL,
    cached_input_tokens bigint NOT NULL,
    cache_write_tokens  bigint NOT NULL,
    output_tokens       bigint NOT NULL,
    reasoning_tokens    bigint NOT NULL,
    spend_micros        bigint NOT NULL,
    last_at             timestamptz NOT NULL,
    PRIMARY KEY (account_id, day, model, key_id)
);
CREATE INDEX usage_rollups_key ON usage_rollups (key_id, day);

-- Debits settled before this migration.
INSERT INTO usage_rollups
SELECT account_id, (occurred_at AT TIME ZONE 'UTC')::date, coalesce(model, ''),
       coalesce(key_id, ''), count(*), sum(input_tokens), sum(cached_input_tokens),
       sum(cache_write_tokens), sum(output_tokens), sum(reasoning_tokens),
       -sum(amount_micros), max(occurred_at)
FROM ledger_entries WHERE kind = 'debit'
GROUP BY 1, 2, 3, 4;
