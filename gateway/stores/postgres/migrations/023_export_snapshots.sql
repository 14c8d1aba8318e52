-- A usage export retried after `meterway ledger retention` archived its debit's month read
-- the debit from the live ledger by id, found nothing, and stayed `failed` forever: never
-- delivered, and nothing said so. Each export row now carries what a delivery sends, written
-- at its first attempt (stores/postgres/exports.py), so a retry reads no ledger at all. A
-- debit archived before any attempt gets a `pending` row from the transaction that detaches
-- its month, with the same columns, and is sent like a retry.
ALTER TABLE usage_exports
    ADD COLUMN account_id  text,
    ADD COLUMN request_id  text,
    ADD COLUMN cost_micros bigint,
    ADD COLUMN occurred_at timestamptz,
    ADD COLUMN meter       text,
    ADD COLUMN quantity    bigint,
    ADD COLUMN model       text,
    ADD COLUMN metadata    jsonb;
ALTER TABLE usage_exports DROP CONSTRAINT usage_exports_status_check;
ALTER TABLE usage_exports ADD CONSTRAINT usage_exports_status_check
    CHECK (status IN ('sent', 'failed', 'expired', 'pending'));
DROP INDEX usage_exports_retry;
CREATE INDEX usage_exports_retry ON usage_exports (target, next_at)
    WHERE status IN ('failed', 'pending');

-- Rows still to retry get their debit now: from the live ledger, else from the archive
-- tables still there (rows already sent or expired keep NULLs: nothing reads them again),
-- and debits archived before any attempt get their `pending` row, as retention now does.
UPDATE usage_exports x SET account_id = l.account_id, request_id = l.request_id,
    cost_micros = -l.amount_micros, occurred_at = l.occurred_at, meter = l.meter,
    quantity = l.quantity, model = l.model, metadata = l.metadata
FROM ledger_entries l WHERE l.id = x.entry_id AND x.status = 'failed';
DO $$
DECLARE
    a record;
BEGIN
    FOR a IN SELECT DISTINCT archive_table FROM ledger_archived_sums
             WHERE to_regclass(archive_table) IS NOT NULL LOOP
        EXECUTE format(
            'UPDATE usage_exports x SET account_id = l.account_id, request_id = l.request_id,'
            ' cost_micros = -l.amount_micros, occurred_at = l.occurred_at, meter = l.meter,'
            ' quantity = l.quantity, model = l.model, metadata = l.metadata'
            ' FROM %I l WHERE l.id = x.entry_id AND x.status = ''failed'''
            ' AND x.account_id IS NULL', a.archive_table);
        EXECUTE format(
            'INSERT INTO usage_exports (target, entry_id, status, attempts, next_at, account_id,'
            ' request_id, cost_micros, occurred_at, meter, quantity, model, metadata)'
            ' SELECT t.target, l.id, ''pending'', 0, now(), l.account_id, l.request_id,'
            ' -l.amount_micros, l.occurred_at, l.meter, l.quantity, l.model, l.metadata'
            ' FROM %I l JOIN export_customers c ON c.account_id = l.account_id'
            ' CROSS JOIN LATERAL (VALUES (''stripe'', c.stripe_customer_id),'
            ' (''lago'', c.lago_subscription_id)) AS t (target, customer)'
            ' WHERE t.customer IS NOT NULL AND l.kind = ''debit'' AND l.amount_micros < 0'
            ' ON CONFLICT (target, entry_id) DO NOTHING', a.archive_table);
    END LOOP;
END $$;
