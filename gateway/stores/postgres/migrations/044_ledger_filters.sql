-- The account ledger page filtered (GET /v1/account/ledger?kind=&model=&key_id=&team_id=,
-- the dashboard's usage explorer): each filter an index range read newest first, so a filter
-- that matches a few rows of a large ledger reads those rows, not the whole account's
-- (ledger_account_time would be walked to the account's first row to prove there are no
-- more). Created on the partitioned table: every month's partition has its own.
--
-- Kinds other than debit only (partial): debits are the bulk of every ledger and a debit
-- filter walks ledger_account_time, where nearly every row is one; this index stays small
-- and costs a debit's insert nothing.
CREATE INDEX ledger_account_kind ON ledger_entries (account_id, kind, id DESC)
    WHERE kind <> 'debit';
-- A model, newest first.
CREATE INDEX ledger_account_model ON ledger_entries (account_id, model, id DESC)
    WHERE model IS NOT NULL;
-- A key (ids are unique across accounts), and a team one of its keys at a time.
CREATE INDEX ledger_key ON ledger_entries (key_id, id DESC) WHERE key_id IS NOT NULL;
