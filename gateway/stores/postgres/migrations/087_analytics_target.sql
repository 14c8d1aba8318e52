-- The analytics store the copy's watermark describes (stores/postgres/analytics_copy.py):
-- `target_id` is the marker the copy wrote into that ClickHouse database (its table
-- `meterway_target`), NULL before any; `target_high` the highest entry id the store has
-- acknowledged. A store whose marker differs, whose own highest id is below `target_high`
-- or above what was ever sent, is not the one the watermark counts: the copy empties it,
-- writes a new marker and fills it again from the ledger.
ALTER TABLE analytics_copy ADD COLUMN target_id text,
    ADD COLUMN target_high bigint NOT NULL DEFAULT 0;
