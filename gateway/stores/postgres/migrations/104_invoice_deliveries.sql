-- Invoices sent through Stripe Invoicing (docs/guides/invoices.md, "Sending"): where each
-- issued invoice went and whether its provider says it is paid. The invoice itself stays
-- as issued (never updated); its delivery is this row.
ALTER TABLE invoice_customers ADD COLUMN email text NOT NULL DEFAULT '';

CREATE TABLE invoice_deliveries (
    invoice_id          bigint PRIMARY KEY REFERENCES invoices (id),
    provider            text NOT NULL,
    provider_invoice_id text NOT NULL UNIQUE,
    url                 text,
    sent_at             timestamptz NOT NULL,
    paid_at             timestamptz
);

-- The highest ledger id an invoice covered: an entry written later for a time an invoice
-- already covered (a late settlement) goes on the account's next invoice, marked late.
ALTER TABLE invoices ADD COLUMN entries_through bigint NOT NULL DEFAULT 0;
