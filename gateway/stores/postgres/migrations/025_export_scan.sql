-- The usage exporter looked for debits never tried at a target by reading every debit of
-- every mapped account in the ledger against usage_exports (about 1 s per million rows, on
-- every run). It now reads only ids above `through_id`: every debit of a mapped account at
-- or below it has an export row at the target (stores/postgres/exports.py).
--
-- `through_id` moves to `next_id` (the id sequence's value when it was read) once every
-- transaction then holding the sequence's lock (`next_vxids`, their virtual ids in
-- pg_locks: nextval keeps it until the transaction ends) has ended, so no debit with a lower
-- id can still commit, and once none of those debits is left untried. An account mapped at a target later gets a `pending` export row for each debit
-- at or below `through_id` never tried there, in the transaction that maps it.
CREATE TABLE export_scan (
    target      text PRIMARY KEY CHECK (target IN ('stripe', 'lago')),
    through_id  bigint NOT NULL DEFAULT 0,
    next_id     bigint,
    next_vxids  text[]
);
INSERT INTO export_scan (target) VALUES ('stripe'), ('lago');
