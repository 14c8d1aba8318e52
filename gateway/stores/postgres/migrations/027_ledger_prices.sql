-- Every debit says which prices billed it (issue 32): the rate card's version, the provider's
-- cost before the account's markup (amount_micros is what was charged), and the priced
-- dimensions beyond the token columns (a JSON object: cache_write_1h_tokens, web_searches,
-- service_tier, context_tier, ...). NULL on voids, meters, credits and rows written before
-- this migration; a NULL provider cost means the charge was the provider cost.
ALTER TABLE ledger_entries
    ADD COLUMN price_version text,
    ADD COLUMN provider_cost_micros bigint,
    ADD COLUMN usage_detail jsonb;

-- Archived months keep the ledger's columns (ARCHITECTURE.md): their rows read as NULL.
DO $$
DECLARE
    a record;
BEGIN
    FOR a IN SELECT archive_table FROM ledger_archives
             WHERE to_regclass(archive_table) IS NOT NULL LOOP
        EXECUTE format(
            'ALTER TABLE %I ADD COLUMN price_version text,'
            ' ADD COLUMN provider_cost_micros bigint, ADD COLUMN usage_detail jsonb',
            a.archive_table);
    END LOOP;
END $$;

-- A debit spooled while Redis was down lands with the prices that priced it.
ALTER TABLE pending_debits
    ADD COLUMN price_version text NOT NULL DEFAULT '',
    ADD COLUMN provider_cost_micros bigint,
    ADD COLUMN usage_detail jsonb;

-- The rate cards a price_version names, registered at start-up (never per request): what a
-- debit's version meant, for `meterway prices explain` and an auditor. Never changed.
CREATE TABLE price_versions (
    version    text PRIMARY KEY,
    model      text NOT NULL,
    provider   text NOT NULL,
    source     text NOT NULL,
    card       jsonb NOT NULL,
    first_seen timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER price_versions_no_update BEFORE UPDATE OR DELETE ON price_versions
    FOR EACH ROW EXECUTE FUNCTION ledger_immutable();

-- Usage reports show gross margin (charged - provider cost) per model and account: the
-- rollups sum the provider cost beside the spend. Days summed before this were charged at
-- provider cost (no markups existed).
ALTER TABLE usage_rollups ADD COLUMN provider_cost_micros bigint;
UPDATE usage_rollups SET provider_cost_micros = spend_micros;
ALTER TABLE usage_rollups ALTER COLUMN provider_cost_micros SET NOT NULL;
