-- The ledger's proof (billing/ledger_proof.py, stores/postgres/ledger_proof.py): each
-- checkpoint seals the entry ids (after_id, last_id] as a Merkle root over their leaves,
-- chained to the checkpoint before it by `prev_head`, its `head` signed with the Ed25519 key
-- named by `kid` (NULL: unsigned). Checkpoints follow each other without gaps: seq n + 1
-- starts where seq n ends. Written once, never changed.
CREATE TABLE ledger_checkpoints (
    seq        bigint PRIMARY KEY CHECK (seq > 0),
    version    integer NOT NULL,
    after_id   bigint NOT NULL,
    last_id    bigint NOT NULL CHECK (last_id > after_id),
    entries    bigint NOT NULL CHECK (entries >= 0),
    root       text NOT NULL,
    prev_head  text NOT NULL,
    head       text NOT NULL UNIQUE,
    kid        text,
    signature  text,
    sealed_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (last_id)
);
CREATE TRIGGER ledger_checkpoints_no_update BEFORE UPDATE OR DELETE ON ledger_checkpoints
    FOR EACH ROW EXECUTE FUNCTION ledger_immutable();

-- Which ids the sealer may take: `safe_id` moves to `next_id` once the transactions then
-- holding the id sequence's lock (`next_vxids`) have ended (stores/postgres/id_bound.py).
CREATE TABLE ledger_seal_bound (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    safe_id    bigint NOT NULL DEFAULT 0,
    next_id    bigint,
    next_vxids text[]
);
INSERT INTO ledger_seal_bound DEFAULT VALUES;
