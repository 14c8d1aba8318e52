-- A month's meter usage of one account (admin /accounts/{id}/usage/meters) aggregates every
-- metered debit of the month from the ledger. At 10 million rows an account with ~43,000
-- metered events in a month took ~106 ms through (account_id, meter) plus the heap; this
-- index answers it from the index alone (partial: LLM debits never enter it). Created on
-- the partitioned table, so every month's partition, present and future, has its own.
CREATE INDEX ledger_meter_usage ON ledger_entries (account_id, occurred_at)
    INCLUDE (meter, quantity, amount_micros)
    WHERE meter IS NOT NULL AND kind = 'debit';
-- The index it replaces served only that read (and made the planner prefer a heap scan
-- while the visibility map was cold).
DROP INDEX ledger_meter;
