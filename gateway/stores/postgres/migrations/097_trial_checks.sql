-- Sign-up's trial checks (billing/trial_checks.py, services/trial_gate.py): what a sign-up
-- was opened from (its client's network, /24 or /48, and its device fingerprint's hash),
-- the card it verified, and what became of its trial: `trial_hold` none (given, or given
-- when approved), card (waiting for a card verification) or refused, with the check that
-- refused it for operators (`trial_check`); `trial_revoked_*` when an operator took it back.
-- A new sign-up is born `unchecked` and given no trial until its checks ran (a verification
-- that failed between opening the account and checking it gives none); the sign-ups made
-- before this migration are `none`, as their trial was decided without checks.
-- A card funds one trial: the partial unique index makes a second claim of one fingerprint
-- fail however concurrently two sign-ups verify it.
ALTER TABLE signups ADD COLUMN network text NOT NULL DEFAULT '',
    ADD COLUMN device text NOT NULL DEFAULT '',
    ADD COLUMN card_fingerprint text,
    ADD COLUMN card_funded boolean NOT NULL DEFAULT false,
    ADD COLUMN trial_hold text NOT NULL DEFAULT 'none'
        CHECK (trial_hold IN ('unchecked', 'none', 'card', 'refused')),
    ADD COLUMN trial_check text,
    ADD COLUMN trial_revoked_at timestamptz,
    ADD COLUMN trial_revoked_by text;
ALTER TABLE signups ALTER COLUMN trial_hold SET DEFAULT 'unchecked';
CREATE UNIQUE INDEX signups_card_funded ON signups (card_fingerprint) WHERE card_funded;
CREATE INDEX signups_created ON signups (created_at);
