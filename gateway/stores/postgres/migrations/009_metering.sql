-- Metered (non-token) debits share the ledger with LLM calls: which meter, how many units,
-- and which service reported them. Service keys are stored by hash; the secret is shown once.
ALTER TABLE ledger_entries ADD COLUMN meter text;
ALTER TABLE ledger_entries ADD COLUMN quantity bigint;
ALTER TABLE ledger_entries ADD COLUMN service text;
CREATE INDEX ledger_meter ON ledger_entries (account_id, meter) WHERE meter IS NOT NULL;

CREATE TABLE service_keys (
    id          text PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    key_hash    text NOT NULL UNIQUE,
    key_prefix  text NOT NULL,
    meters      text[] NOT NULL,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Usage rollups gain the meter as a dimension ('' for LLM calls) and the units it counted.
ALTER TABLE usage_rollups ADD COLUMN meter text NOT NULL DEFAULT '';
ALTER TABLE usage_rollups ADD COLUMN quantity bigint NOT NULL DEFAULT 0;
ALTER TABLE usage_rollups DROP CONSTRAINT usage_rollups_pkey;
ALTER TABLE usage_rollups ADD PRIMARY KEY (account_id, day, model, key_id, meter);
