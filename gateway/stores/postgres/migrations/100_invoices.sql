-- Invoices (docs/guides/invoices.md): built only from the ledger, numbered without gaps per
-- series, never changed once issued (a correction is a credit note in the same series).

-- The customer's details an invoice carries, and how it is invoiced: its currency, the
-- operator's exchange rate (units of the currency per 1 USD, exact) and its source, and
-- how usage lines are grouped.
CREATE TABLE invoice_customers (
    account_id  text PRIMARY KEY REFERENCES accounts (id),
    legal_name  text NOT NULL DEFAULT '',
    address     text[] NOT NULL DEFAULT '{}',
    country     text NOT NULL DEFAULT '' CHECK (country = '' OR country ~ '^[A-Z]{2}$'),
    tax_id      text NOT NULL DEFAULT '',
    currency    text NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
    rate        numeric CHECK (rate > 0),
    rate_source text NOT NULL DEFAULT '',
    group_by    text NOT NULL DEFAULT 'model',
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per series, its last number: locked by the UPDATE that takes the next number in
-- the issuing transaction, so a rolled-back issue gives its number back (a sequence would not).
CREATE TABLE invoice_counters (
    series      text PRIMARY KEY,
    last_number bigint NOT NULL DEFAULT 0 CHECK (last_number >= 0)
);

CREATE TABLE invoices (
    id             bigserial PRIMARY KEY,
    series         text NOT NULL,
    number         bigint NOT NULL CHECK (number > 0),
    kind           text NOT NULL CHECK (kind IN ('invoice', 'credit_note')),
    account_id     text NOT NULL REFERENCES accounts (id),
    credits        bigint REFERENCES invoices (id),
    month          text NOT NULL,
    period_start   timestamptz NOT NULL,
    period_end     timestamptz NOT NULL CHECK (period_end >= period_start),
    issued_at      timestamptz NOT NULL,
    currency       text NOT NULL,
    rate           numeric NOT NULL CHECK (rate > 0),
    rate_source    text NOT NULL,
    group_by       text NOT NULL,
    issuer         jsonb NOT NULL,
    customer       jsonb NOT NULL,
    tax_name       text NOT NULL,
    tax_percent    numeric NOT NULL,
    tax_mention    text NOT NULL,
    usage_micros   bigint NOT NULL,
    subtotal_minor bigint NOT NULL,
    tax_minor      bigint NOT NULL,
    total_minor    bigint NOT NULL,
    reason         text NOT NULL DEFAULT '',
    UNIQUE (series, number),
    CHECK ((kind = 'credit_note') = (credits IS NOT NULL))
);
CREATE INDEX invoices_account ON invoices (account_id, issued_at DESC);
CREATE INDEX invoices_credits ON invoices (credits) WHERE credits IS NOT NULL;
-- No two invoices of an account cover the same start of a period.
CREATE UNIQUE INDEX invoices_period ON invoices (account_id, period_start) WHERE kind = 'invoice';

CREATE TABLE invoice_lines (
    invoice_id    bigint NOT NULL REFERENCES invoices (id),
    position      integer NOT NULL CHECK (position > 0),
    section       text NOT NULL CHECK (section IN ('usage', 'adjustment', 'credit', 'refund')),
    key           text NOT NULL,
    label         text NOT NULL,
    entries       bigint NOT NULL,
    requests      bigint NOT NULL,
    quantities    jsonb NOT NULL,
    unit_price    numeric,
    amount_micros bigint NOT NULL,
    amount_minor  bigint NOT NULL,
    -- a credit note's line: the position of the invoice's line it cancels
    credits_position integer,
    PRIMARY KEY (invoice_id, position)
);

-- Issued means final: every invoice row is written issued, so none is ever updated or
-- deleted, and a line joins only an invoice its own transaction wrote.
CREATE FUNCTION invoice_issued() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'an issued invoice is never changed (%): issue a credit note', TG_OP
        USING ERRCODE = 'raise_exception';
END $$;
CREATE TRIGGER invoices_no_change BEFORE UPDATE OR DELETE ON invoices
    FOR EACH ROW EXECUTE FUNCTION invoice_issued();
CREATE TRIGGER invoices_no_truncate BEFORE TRUNCATE ON invoices
    FOR EACH STATEMENT EXECUTE FUNCTION invoice_issued();
CREATE TRIGGER invoice_lines_no_change BEFORE UPDATE OR DELETE ON invoice_lines
    FOR EACH ROW EXECUTE FUNCTION invoice_issued();
CREATE TRIGGER invoice_lines_no_truncate BEFORE TRUNCATE ON invoice_lines
    FOR EACH STATEMENT EXECUTE FUNCTION invoice_issued();

CREATE FUNCTION invoice_line_with_invoice() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT xmin FROM invoices WHERE id = NEW.invoice_id) IS DISTINCT FROM
            pg_current_xact_id()::xid THEN
        RAISE EXCEPTION 'a line joins only the invoice its own transaction issues'
            USING ERRCODE = 'raise_exception';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER invoice_lines_at_issue BEFORE INSERT ON invoice_lines
    FOR EACH ROW EXECUTE FUNCTION invoice_line_with_invoice();
