-- Reconciliation's differences say what valued them (billing/reconcile.py's VALUED_BY):
-- Meterway's rate card, the provider's own bill (a model the ledger has no rate for: a
-- leaked key's traffic), or neither (a unit no side prices). A run whose reports could not
-- be read keeps the last good differences of its credential and day: `compared_at` is when
-- they were found (NULL: never), `checked_at` and `error` the newest run, failed or not.
ALTER TABLE provider_differences ADD COLUMN valued_by text NOT NULL DEFAULT 'ledger_rates'
    CHECK (valued_by IN ('ledger_rates', 'provider_bill', 'none'));
ALTER TABLE provider_reconciliation_runs ADD COLUMN compared_at timestamptz;
UPDATE provider_reconciliation_runs SET compared_at = checked_at WHERE error IS NULL;
