-- The archive tables `meterway ledger retention` made, one row each, with the id range of
-- their rows: the account ledger page reads an archive only where its ids can fall in the
-- page (ids are unique across the live ledger and every archive), and nothing reads pg_class
-- to find archives. Written by the transaction that detaches a month; never changed. A row
-- may outlive its table (an operator may drop one): readers skip a table that is gone.
CREATE TABLE ledger_archives (
    archive_table text PRIMARY KEY,
    month         date NOT NULL,
    entries       bigint NOT NULL,
    min_id        bigint,  -- NULL when the month had no rows
    max_id        bigint,
    archived_at   timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER ledger_archives_no_update BEFORE UPDATE OR DELETE ON ledger_archives
    FOR EACH ROW EXECUTE FUNCTION ledger_immutable();

-- Archives made before this migration, those still there.
DO $$
DECLARE
    a record;
BEGIN
    FOR a IN SELECT archive_table, min(month) AS month FROM ledger_archived_sums
             WHERE to_regclass(archive_table) IS NOT NULL GROUP BY archive_table LOOP
        EXECUTE format(
            'INSERT INTO ledger_archives (archive_table, month, entries, min_id, max_id)'
            ' SELECT %L, %L, count(*), min(id), max(id) FROM %I',
            a.archive_table, a.month, a.archive_table);
    END LOOP;
END $$;

-- Meter usage finds an account's archived months by account (it scanned the whole table).
CREATE INDEX ledger_archived_usage_account ON ledger_archived_usage (account_id, month);
