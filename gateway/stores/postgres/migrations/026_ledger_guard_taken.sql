-- A ledger row with a request id (a debit or a void) must have taken its guard row in
-- ledger_request_ids in the same transaction (migration 020), or an insert by hand could add
-- a second debit for a request the settler wrote, or one the settler would write again. The
-- settler's merge takes the guards in the statement that inserts the rows and says so with
-- the transaction-local setting meterway.guards_taken, which the trigger's WHEN reads: its
-- rows never queue the trigger, so its write path pays one setting per batch, not a lookup
-- per row (tests.bench.guard_ab). Every other insert is checked row by row.

-- Rows of the past without their guard (inserted by hand before this migration) get it, so
-- the settler can never write their request again.
INSERT INTO ledger_request_ids (request_id, kind)
SELECT DISTINCT request_id, kind FROM ledger_entries WHERE request_id IS NOT NULL
ON CONFLICT DO NOTHING;

CREATE FUNCTION ledger_guard_taken() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM ledger_request_ids g
        WHERE g.request_id = NEW.request_id AND g.kind = NEW.kind
          AND g.xmin = pg_current_xact_id()::xid
    ) THEN
        RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
            MESSAGE = format('ledger_entries: the %s of request %s has no guard row taken in'
                             ' this transaction', NEW.kind, NEW.request_id),
            HINT = 'insert (request_id, kind) into ledger_request_ids in the same transaction'
                   ' (not in a savepoint) first; a conflict there means the request is already'
                   ' in the ledger';
    END IF;
    RETURN NULL;
END $$;

-- AFTER: a statement taking its guards in a CTE (as the settler's does) has them by then.
CREATE TRIGGER ledger_guard_taken AFTER INSERT ON ledger_entries FOR EACH ROW
    WHEN (NEW.request_id IS NOT NULL
          AND current_setting('meterway.guards_taken', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION ledger_guard_taken();

-- Moving a new month's rows out of DEFAULT re-inserts rows whose guards were taken long ago.
CREATE OR REPLACE FUNCTION ledger_add_month(month date) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    first timestamptz := (date_trunc('month', month)::date)::timestamp AT TIME ZONE 'UTC';
    after timestamptz := (date_trunc('month', month)::date + interval '1 month')::timestamp
                         AT TIME ZONE 'UTC';
    name  text := 'ledger_entries_' || to_char(date_trunc('month', month), 'YYYY_MM');
    taken text := current_setting('meterway.guards_taken', true);
    moved bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('ledger_add_month'));
    IF to_regclass(name) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    CREATE TEMP TABLE ledger_moving ON COMMIT DROP AS
        SELECT * FROM ledger_entries_default WHERE occurred_at >= first AND occurred_at < after;
    GET DIAGNOSTICS moved = ROW_COUNT;
    IF moved > 0 THEN
        ALTER TABLE ledger_entries_default DISABLE TRIGGER ledger_no_update;
        DELETE FROM ledger_entries_default WHERE occurred_at >= first AND occurred_at < after;
        ALTER TABLE ledger_entries_default ENABLE TRIGGER ledger_no_update;
    END IF;
    EXECUTE format('CREATE TABLE %I PARTITION OF ledger_entries FOR VALUES FROM (%L) TO (%L)',
                   name, first, after);
    PERFORM set_config('meterway.guards_taken', 'on', true);
    INSERT INTO ledger_entries SELECT * FROM ledger_moving;
    PERFORM set_config('meterway.guards_taken', coalesce(taken, ''), true);
    DROP TABLE ledger_moving;
    RETURN moved;
END $$;
