-- A reseller's markup of one account over provider cost, in basis points (issue 32),
-- overriding its plan's markup_bps (config/plans.toml); NULL follows the plan.
ALTER TABLE accounts ADD COLUMN markup_bps integer
    CHECK (markup_bps IS NULL OR markup_bps BETWEEN 0 AND 1000000);
