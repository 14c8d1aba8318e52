-- What a service said about a metered debit (a job id, a region, ...): the `metadata` object
-- of its authorization or event, validated and bounded by the metering API, kept with the
-- ledger row it explains. NULL for LLM calls and for metering calls that sent none.
ALTER TABLE ledger_entries ADD COLUMN metadata jsonb;
