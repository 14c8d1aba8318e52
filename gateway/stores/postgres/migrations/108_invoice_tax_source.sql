-- Who named an invoice's tax rate: '' for the operator's table (config/tax.toml), else
-- Stripe Tax and its calculation's id (INVOICE_TAX=stripe).
ALTER TABLE invoices ADD COLUMN tax_source text NOT NULL DEFAULT '';
