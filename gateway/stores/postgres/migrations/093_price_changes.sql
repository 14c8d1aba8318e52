-- Price changes reviewed before they bill (issue 71): each a document of operator rates
-- (billing/pricing/changes.py) in force from `effective_at`, always in the future when
-- proposed and approved. `preview` is what the last 30 days of usage would be charged on
-- either side of it, per account; `largest_move_permille` its largest move of an account's
-- spend (tenths of a percent), which an approver names when it passes the operator's
-- threshold. Approved changes are what every gateway process installs before they start.
CREATE TABLE price_changes (
    id                    bigserial PRIMARY KEY,
    status                text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'approved', 'rejected')),
    document              jsonb NOT NULL,
    effective_at          timestamptz NOT NULL,
    note                  text NOT NULL DEFAULT '',
    diff                  jsonb NOT NULL,
    preview               jsonb NOT NULL,
    largest_move_permille bigint NOT NULL CHECK (largest_move_permille >= 0),
    proposed_by           text NOT NULL,
    proposed_at           timestamptz NOT NULL DEFAULT now(),
    decided_by            text,
    decided_at            timestamptz,
    CHECK ((status = 'pending') = (decided_at IS NULL))
);
CREATE INDEX price_changes_approved ON price_changes (effective_at) WHERE status = 'approved';
