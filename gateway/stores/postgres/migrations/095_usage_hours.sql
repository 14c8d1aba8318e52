-- Per UTC hour, the requests and spend of each (account, key, model): the baseline the spend
-- anomaly detector (billing/anomalies.py) compares an hour with, by hour of the week. Kept by
-- the settler in the transaction of the ledger rows it sums (rollups.py's HOUR_ROLLUP_CTE),
-- like usage_rollups, with the newest request id of each row as an example for the evidence.
CREATE TABLE usage_hours (
    account_id      text NOT NULL REFERENCES accounts (id),
    key_id          text NOT NULL,
    hour            timestamptz NOT NULL,
    model           text NOT NULL,
    requests        bigint NOT NULL,
    spend_micros    bigint NOT NULL,
    last_request_id text NOT NULL,
    last_at         timestamptz NOT NULL,
    PRIMARY KEY (account_id, key_id, hour, model)
);
CREATE INDEX usage_hours_fresh ON usage_hours (last_at);

-- Debits of the last five weeks settled before this migration (the detector reads four).
INSERT INTO usage_hours
SELECT account_id, coalesce(key_id, ''), date_trunc('hour', occurred_at), coalesce(model, ''),
       count(*), -sum(amount_micros), max(request_id), max(occurred_at)
FROM ledger_entries
WHERE kind = 'debit' AND meter IS NULL AND occurred_at >= now() - interval '35 days'
GROUP BY 1, 2, 3, 4;

-- What the detector flagged: one row per (rule, scope, hour), with its evidence.
CREATE TABLE spend_anomalies (
    id           bigserial PRIMARY KEY,
    account_id   text NOT NULL REFERENCES accounts (id),
    key_id       text NOT NULL,          -- '' for a team's or an account's flag
    scope        text NOT NULL,          -- key | team | account
    scope_id     text NOT NULL,
    rule         text NOT NULL,          -- rate | pricier_model
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    figures      jsonb NOT NULL,
    request_ids  text[] NOT NULL,
    summary      text NOT NULL,
    paused       boolean NOT NULL DEFAULT false,
    detected_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (scope, scope_id, rule, window_start)
);
CREATE INDEX spend_anomalies_account ON spend_anomalies (account_id, detected_at DESC);
