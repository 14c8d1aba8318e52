-- Migration 044's filter indexes for the archived months detached before it (a month
-- detached after it keeps its partition's own), so a filtered ledger page reads an old
-- month's matching rows, not the account's every archived row. An archive that already has
-- an index of the shape is left as it is.
DO $$
DECLARE
    a record;
    shape record;
BEGIN
    FOR a IN SELECT archive_table FROM ledger_archives
             WHERE to_regclass(archive_table) IS NOT NULL LOOP
        FOR shape IN SELECT * FROM (VALUES
            ('account_kind', '(account_id, kind, id DESC) WHERE (kind <> ''debit''::text)'),
            ('account_model', '(account_id, model, id DESC) WHERE (model IS NOT NULL)'),
            ('key', '(key_id, id DESC) WHERE (key_id IS NOT NULL)')
        ) AS s (suffix, definition) LOOP
            IF NOT EXISTS (
                SELECT 1 FROM pg_indexes
                WHERE schemaname = current_schema() AND tablename = a.archive_table
                  AND indexdef LIKE '%USING btree ' || shape.definition
            ) THEN
                EXECUTE format('CREATE INDEX %I ON %I %s', a.archive_table || '_' || shape.suffix,
                               a.archive_table, shape.definition);
            END IF;
        END LOOP;
    END LOOP;
END $$;
