-- An invoice charges back what was paid in advance (`applied`: usage a prepaid commitment
-- or a rollover covered, and on a prepaid account what its balance paid) and lists the
-- credit that expired unused (`expired`: a grant's `expire`, a commitment's write-off).
ALTER TABLE invoice_lines DROP CONSTRAINT invoice_lines_section_check;
ALTER TABLE invoice_lines ADD CONSTRAINT invoice_lines_section_check
    CHECK (section IN ('usage', 'adjustment', 'commitment', 'applied', 'credit', 'refund',
                       'expired'));
