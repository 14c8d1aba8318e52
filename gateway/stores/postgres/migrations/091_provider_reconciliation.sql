-- Reconciliation against the provider (billing/reconcile.py): each run of one upstream
-- credential's UTC day, and every difference it found between the provider's usage and cost
-- reports and the ledger, one row per credential, day, model and kind of token, in its class.
-- A later run of the same credential and day replaces that day's differences: the provider's
-- reports fill in for hours after the day ends, and the newest comparison is the one that
-- stands. Money in integer USD micros, the provider minus Meterway.
CREATE TABLE provider_reconciliation_runs (
    credential   text NOT NULL,
    day          date NOT NULL,
    upstream     text NOT NULL,          -- 'openai' or 'anthropic': whose reports were read
    checked_at   timestamptz NOT NULL DEFAULT now(),
    differences  integer NOT NULL CHECK (differences >= 0),
    error        text,                   -- why the run could not compare, else NULL
    PRIMARY KEY (credential, day)
);

CREATE TABLE provider_differences (
    credential       text NOT NULL,
    day              date NOT NULL,
    model            text NOT NULL,
    kind             text NOT NULL,      -- input, cached_input, cache_write(_5m/_1h), output, other
    class            text NOT NULL CHECK (class IN ('unmetered_traffic', 'unbilled_by_provider',
                         'price_drift', 'provider_rounding', 'unexplained')),
    provider_tokens  bigint NOT NULL,
    ledger_tokens    bigint NOT NULL,
    provider_micros  bigint,             -- NULL: the provider's report gave no cost of it
    ledger_micros    bigint,             -- NULL: no rate card of Meterway's prices it
    delta_micros     bigint NOT NULL,
    note             text NOT NULL,
    PRIMARY KEY (credential, day, model, kind),
    FOREIGN KEY (credential, day) REFERENCES provider_reconciliation_runs ON DELETE CASCADE
);
CREATE INDEX provider_differences_day ON provider_differences (day DESC, class);
