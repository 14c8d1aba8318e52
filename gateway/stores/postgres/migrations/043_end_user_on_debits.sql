-- The end user a proxied call named (issue 35: `x-meterway-end-user`, `user`,
-- `metadata.user_id`; billing/end_users.py) is recorded on its debit, so usage reports group
-- and filter by it. NULL on every other row, on a call that named none or an id out of
-- bounds, and on rows written before this migration.
ALTER TABLE ledger_entries ADD COLUMN end_user text;

-- Archived months keep the ledger's columns (ARCHITECTURE.md): their rows read as NULL.
DO $$
DECLARE
    a record;
BEGIN
    FOR a IN SELECT archive_table FROM ledger_archives
             WHERE to_regclass(archive_table) IS NOT NULL LOOP
        EXECUTE format('ALTER TABLE %I ADD COLUMN end_user text', a.archive_table);
    END LOOP;
END $$;

-- A debit spooled while Redis was down lands with its end user.
ALTER TABLE pending_debits ADD COLUMN end_user text NOT NULL DEFAULT '';

-- Per day, the usage of each end user, beside usage_rollups (the same columns, and the end
-- user last): only debits that name one, so the rollups every report and the dashboard read
-- do not grow with an organization's end users. Kept by the settler in the transaction of
-- the rows it sums. Debits before this migration named none.
CREATE TABLE end_user_rollups (LIKE usage_rollups INCLUDING DEFAULTS);
ALTER TABLE end_user_rollups ADD COLUMN end_user text NOT NULL,
    ADD FOREIGN KEY (account_id) REFERENCES accounts (id);
ALTER TABLE end_user_rollups
    ADD PRIMARY KEY (account_id, day, end_user, model, key_id, meter);
