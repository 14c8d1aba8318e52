-- A reservation voided while its request was still alive (Redis unreachable past the
-- deadline) is debited late: the ledger then holds the void and, after it, the debit of the
-- same request. A request id still has at most one row of each kind.
DROP INDEX ledger_request;
CREATE UNIQUE INDEX ledger_request_kind ON ledger_entries (request_id, kind)
    WHERE request_id IS NOT NULL;

-- Debits of completed upstream calls a stopping gateway could not settle in Redis: the
-- sweeper applies each (a debit, never a void) once Redis answers, then deletes the row.
CREATE TABLE pending_debits (
    request_id          text PRIMARY KEY,
    account_id          text NOT NULL,
    shard               integer NOT NULL,
    model               text NOT NULL,
    provider            text NOT NULL,
    cost_micros         bigint NOT NULL CHECK (cost_micros >= 0),
    input_tokens        bigint NOT NULL,
    cached_input_tokens bigint NOT NULL,
    cache_write_tokens  bigint NOT NULL,
    output_tokens       bigint NOT NULL,
    reasoning_tokens    bigint NOT NULL,
    usage_source        text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);
