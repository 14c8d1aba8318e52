-- What a spent form token's submit asked (a digest of its fields), beside where it led: a
-- second submit of the same top-up form with another amount is a new request (the person
-- came Back from the checkout and changed it), not a repeat of the first.
ALTER TABLE form_tokens ADD COLUMN fields text;
