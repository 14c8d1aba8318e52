-- A plan's markup changes through a reviewed price change, as an account's does (issue 71):
-- `markup_bps` is the plan's approved markup (the first start's config/plans.toml, then each
-- approved change once in force), `next_markup_bps` the one an approved change schedules from
-- `next_markup_at` (`next_markup_change`). A start whose plans.toml moves a markup bills the
-- approved one and files the move as a change proposed by `config`.
CREATE TABLE plan_markups (
    plan               text PRIMARY KEY,
    markup_bps         integer NOT NULL CHECK (markup_bps >= 0),
    next_markup_bps    integer CHECK (next_markup_bps >= 0),
    next_markup_at     timestamptz,
    next_markup_change bigint REFERENCES price_changes (id),
    CONSTRAINT plan_next_markup_dated
        CHECK ((next_markup_at IS NULL) = (next_markup_bps IS NULL)
               AND (next_markup_at IS NULL) = (next_markup_change IS NULL))
);
