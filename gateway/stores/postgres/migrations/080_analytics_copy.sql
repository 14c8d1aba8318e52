-- How far the ledger has been copied to the analytics store (ClickHouse), by entry id
-- (stores/postgres/analytics_copy.py).
--
-- `copied_through`: every ledger id at or below it is in the store. `batch_last`: a batch
-- (copied_through, batch_last] that was sent and not yet acknowledged; it is sent again,
-- the same rows under the same insert token, until it is (the store drops the repeat).
-- `safe_id`: every id at or below it has committed or never will; it moves to `next_id`
-- (the id sequence's value when read) once the transactions then holding the sequence's
-- lock (`next_vxids`) have ended, as the usage exporter's scan does (migration 025).
CREATE TABLE analytics_copy (
    target         text PRIMARY KEY CHECK (target IN ('clickhouse')),
    copied_through bigint NOT NULL DEFAULT 0,
    batch_last     bigint,
    safe_id        bigint NOT NULL DEFAULT 0,
    next_id        bigint,
    next_vxids     text[],
    copied_at      timestamptz
);
INSERT INTO analytics_copy (target) VALUES ('clickhouse');
