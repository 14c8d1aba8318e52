-- The ledger partitioned by month of occurred_at (UTC), so it can hold billions of rows:
-- each month is its own table with its own indexes, queries bounded in time read only their
-- months, and an old month can be detached whole (`meterway ledger retention`), never deleted.
--
-- A unique index on a partitioned table must contain the partition key, so it cannot say
-- "one row per request id" across months (a late debit and the stream's debit of one request
-- may carry different occurred_at). Idempotency moves to two small unpartitioned guard
-- tables that every writer inserts into in the same statement as the ledger row; only rows
-- that won their guard row are written (ledger.py). Guards are never detached, so a replay
-- of a request from an archived month is still refused.

CREATE TABLE ledger_request_ids (
    request_id text NOT NULL,
    kind       text NOT NULL,
    PRIMARY KEY (request_id, kind)
);

-- A credit's prior answer lives here too: a retry months later (its entry perhaps archived)
-- still gets the same entry id and amount back.
CREATE TABLE ledger_credit_keys (
    account_id      text NOT NULL,
    idempotency_key text NOT NULL,
    entry_id        bigint NOT NULL,
    amount_micros   bigint NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, idempotency_key)
);

INSERT INTO ledger_request_ids (request_id, kind)
SELECT request_id, kind FROM ledger_entries WHERE request_id IS NOT NULL;
INSERT INTO ledger_credit_keys (account_id, idempotency_key, entry_id, amount_micros, created_at)
SELECT account_id, idempotency_key, id, amount_micros, created_at FROM ledger_entries
WHERE idempotency_key IS NOT NULL;

CREATE TRIGGER ledger_request_ids_no_update BEFORE UPDATE OR DELETE ON ledger_request_ids
    FOR EACH ROW EXECUTE FUNCTION ledger_immutable();
CREATE TRIGGER ledger_credit_keys_no_update BEFORE UPDATE OR DELETE ON ledger_credit_keys
    FOR EACH ROW EXECUTE FUNCTION ledger_immutable();

-- The old table steps aside; its id sequence, columns, defaults and checks carry over.
ALTER TABLE ledger_entries RENAME TO ledger_entries_unpartitioned;
ALTER SEQUENCE ledger_entries_id_seq OWNED BY NONE;
-- Usage exports name entries by id only: a foreign key to a partitioned table would need
-- (id, occurred_at) and would forbid detaching an exported month.
ALTER TABLE usage_exports DROP CONSTRAINT usage_exports_entry_id_fkey;
ALTER TABLE ledger_entries_unpartitioned DROP CONSTRAINT ledger_entries_pkey;
DROP INDEX ledger_request_kind, ledger_idempotency, ledger_account_time, ledger_occurred,
    ledger_meter;

CREATE TABLE ledger_entries (
    LIKE ledger_entries_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
    PRIMARY KEY (id, occurred_at),
    FOREIGN KEY (account_id) REFERENCES accounts (id)
) PARTITION BY RANGE (occurred_at);
ALTER SEQUENCE ledger_entries_id_seq OWNED BY ledger_entries.id;
CREATE TABLE ledger_entries_default PARTITION OF ledger_entries DEFAULT;

-- Lookups, no longer uniqueness (the guards hold that).
CREATE INDEX ledger_request_kind ON ledger_entries (request_id, kind)
    WHERE request_id IS NOT NULL;
CREATE INDEX ledger_idempotency ON ledger_entries (account_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- The account ledger page (newest first by id), the exporters' and notifier's id cursors.
CREATE INDEX ledger_account_time ON ledger_entries (account_id, id DESC);
CREATE INDEX ledger_occurred ON ledger_entries (occurred_at);
CREATE INDEX ledger_meter ON ledger_entries (account_id, meter) WHERE meter IS NOT NULL;

CREATE TRIGGER ledger_no_update BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_immutable();

-- Create the partition of the month starting at `month` (UTC) unless it exists; rows of
-- that month already in the DEFAULT partition move into it in the same transaction (their
-- ids and values unchanged). Returns the rows moved, or NULL when the month existed.
CREATE FUNCTION ledger_add_month(month date) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    first timestamptz := (date_trunc('month', month)::date)::timestamp AT TIME ZONE 'UTC';
    after timestamptz := (date_trunc('month', month)::date + interval '1 month')::timestamp
                         AT TIME ZONE 'UTC';
    name  text := 'ledger_entries_' || to_char(date_trunc('month', month), 'YYYY_MM');
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
    INSERT INTO ledger_entries SELECT * FROM ledger_moving;
    DROP TABLE ledger_moving;
    RETURN moved;
END $$;

-- Every month that holds rows, up to two months ahead of now.
SELECT ledger_add_month(m::date)
FROM generate_series(
    date_trunc('month', coalesce((SELECT min(occurred_at) FROM ledger_entries_unpartitioned),
                                 now()) AT TIME ZONE 'UTC'),
    date_trunc('month', now() AT TIME ZONE 'UTC') + interval '2 months',
    interval '1 month') AS m;

INSERT INTO ledger_entries SELECT * FROM ledger_entries_unpartitioned;
DO $$
BEGIN
    IF (SELECT (count(*), sum(amount_micros)) FROM ledger_entries)
       IS DISTINCT FROM (SELECT (count(*), sum(amount_micros)) FROM ledger_entries_unpartitioned)
    THEN
        RAISE EXCEPTION 'ledger partitioning: rows or sums differ after the move';
    END IF;
END $$;
DROP TABLE ledger_entries_unpartitioned;

-- What `meterway ledger retention` detached: per account, month and kind, how many entries
-- and their sum, so "sum of the ledger == balance" still holds by adding these. The rows
-- themselves stay in the archive table named here, untouched.
CREATE TABLE ledger_archived_sums (
    account_id    text NOT NULL REFERENCES accounts (id),
    month         date NOT NULL,
    kind          text NOT NULL,
    entries       bigint NOT NULL,
    amount_micros bigint NOT NULL,
    archive_table text NOT NULL,
    archived_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, month, kind, archive_table)
);
CREATE TRIGGER ledger_archived_sums_no_update BEFORE UPDATE OR DELETE ON ledger_archived_sums
    FOR EACH ROW EXECUTE FUNCTION ledger_immutable();

-- Per account and kind: entries and sums of the live ledger plus what was archived. Every
-- "ledger sum == balance" check reads this (rows of one account and kind may repeat: sum).
CREATE VIEW ledger_kind_sums AS
SELECT account_id, kind, count(*) AS entries, sum(amount_micros)::bigint AS amount_micros
FROM ledger_entries GROUP BY account_id, kind
UNION ALL
SELECT account_id, kind, sum(entries)::bigint, sum(amount_micros)::bigint
FROM ledger_archived_sums GROUP BY account_id, kind;
