-- Commitments (issue 72, billing/commitments.py): an account's contracted spend per UTC
-- calendar period, drawn down by its calls' own debits at request time. A period's close
-- writes its own ledger entries, each once: the unused committed share written off
-- (`commitment_expire`, prepaid) or billed (`true_up`, in arrears), and the rolled-over
-- share credited back as a grant that ends with its last period (its rest leaves through
-- the grant keeper's `expire`). A prepaid period's commitment is a credit at its open.
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check
    CHECK (kind IN ('credit', 'debit', 'void', 'adjustment', 'refund', 'expire', 'true_up',
                    'commitment_expire'));
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_commitment_negative
    CHECK (kind NOT IN ('true_up', 'commitment_expire') OR amount_micros < 0);

-- One commitment per account at a time: a new one replaces the terms from the open period,
-- and `ends_at` (set by an operator's DELETE) is the end of the period it stops after.
CREATE TABLE commitments (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id          text NOT NULL UNIQUE REFERENCES accounts (id),
    period              text NOT NULL CHECK (period IN ('month', 'quarter', 'year')),
    amount_micros       bigint NOT NULL CHECK (amount_micros > 0),
    billing             text NOT NULL CHECK (billing IN ('prepaid', 'arrears')),
    discount_bps        integer NOT NULL CHECK (discount_bps BETWEEN 0 AND 9999),
    on_exhausted        text NOT NULL CHECK (on_exhausted IN ('overage', 'refuse', 'balance')),
    overage_bps         integer NOT NULL CHECK (overage_bps >= 0),
    rollover_bps        integer NOT NULL CHECK (rollover_bps BETWEEN 0 AND 10000),
    rollover_cap_micros bigint NOT NULL CHECK (rollover_cap_micros >= 0),
    rollover_periods    integer NOT NULL CHECK (rollover_periods BETWEEN 1 AND 12),
    starts_at           timestamptz NOT NULL,
    ends_at             timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- One row per period, opened with what it may draw (its commitment and the tranches earlier
-- periods rolled into it: `[[remaining micros, ends ms], ...]`), closed once with what it drew
-- and what its close wrote.
CREATE TABLE commitment_periods (
    commitment_id       bigint NOT NULL REFERENCES commitments (id) ON DELETE CASCADE,
    starts_at           timestamptz NOT NULL,
    ends_at             timestamptz NOT NULL CHECK (ends_at > starts_at),
    committed_micros    bigint NOT NULL CHECK (committed_micros >= 0),
    rolled_in           jsonb NOT NULL DEFAULT '[]',
    drawn_micros        bigint,
    charged_micros      bigint,
    rolled_out_micros   bigint,
    expired_micros      bigint,
    carried             jsonb,
    closed_at           timestamptz,
    PRIMARY KEY (commitment_id, starts_at),
    CONSTRAINT commitment_period_closed
        CHECK ((closed_at IS NULL) = (drawn_micros IS NULL)
               AND (closed_at IS NULL) = (charged_micros IS NULL))
);
CREATE INDEX commitment_periods_open ON commitment_periods (ends_at) WHERE closed_at IS NULL;

-- A true-up is a charged line of its own on the month's invoice (billing/invoices.py).
ALTER TABLE invoice_lines DROP CONSTRAINT invoice_lines_section_check;
ALTER TABLE invoice_lines ADD CONSTRAINT invoice_lines_section_check
    CHECK (section IN ('usage', 'adjustment', 'commitment', 'credit', 'refund'));
