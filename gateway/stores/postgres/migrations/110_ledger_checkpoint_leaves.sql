-- Each checkpoint's leaves as sealed (billing/ledger_proof.py): the entry ids in order and
-- their leaf hashes, 32 bytes each, concatenated. The checkpoint's signed root is the Merkle
-- root of these hashes, so they are checked before they are believed; `ledger verify` then
-- names the entries whose leaves changed, not only the checkpoint's range. Written once in
-- the checkpoint's transaction, never changed.
CREATE TABLE ledger_checkpoint_leaves (
    seq     bigint PRIMARY KEY REFERENCES ledger_checkpoints,
    ids     bigint[] NOT NULL,
    hashes  bytea NOT NULL CHECK (length(hashes) = 32 * cardinality(ids))
);
CREATE TRIGGER ledger_checkpoint_leaves_no_update BEFORE UPDATE OR DELETE
    ON ledger_checkpoint_leaves FOR EACH ROW EXECUTE FUNCTION ledger_immutable();
