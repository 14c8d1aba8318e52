-- Each debit carries its key's effective tags as the settler wrote it (its team's overlaid
-- by its own; NULL when none): filled from api_keys and teams in the settler's merge, so a
-- retag changes only the rows settled after it.
ALTER TABLE ledger_entries ADD COLUMN tags jsonb;

-- Archived months keep the ledger's columns (ARCHITECTURE.md): their rows read as NULL.
DO $$
DECLARE
    a record;
BEGIN
    FOR a IN SELECT archive_table FROM ledger_archives
             WHERE to_regclass(archive_table) IS NOT NULL LOOP
        EXECUTE format('ALTER TABLE %I ADD COLUMN tags jsonb', a.archive_table);
    END LOOP;
END $$;
