-- An account's markup changes through a reviewed price change (issue 71): approving one
-- schedules it here, `next_markup_bps` (its own markup from then; NULL: its plan's) from
-- `next_markup_at`, and the price desk's clock folds it into `markup_bps` once in force.
-- The hot record carries both (reserve.lua picks by its own clock), so every process
-- switches at the same instant; `next_markup_change` is the change that scheduled it.
ALTER TABLE accounts
    ADD COLUMN next_markup_bps    integer CHECK (next_markup_bps >= 0),
    ADD COLUMN next_markup_at     timestamptz,
    ADD COLUMN next_markup_change bigint REFERENCES price_changes (id),
    ADD CONSTRAINT next_markup_dated
        CHECK ((next_markup_at IS NULL) = (next_markup_change IS NULL)
               AND (next_markup_bps IS NULL OR next_markup_at IS NOT NULL));
CREATE INDEX accounts_next_markup ON accounts (next_markup_at) WHERE next_markup_at IS NOT NULL;
