-- Domains an organization claims, proven by a DNS TXT record (billing/domains.py). A domain
-- is proven by one organization at most; unproven claims of it may wait in several.
CREATE TABLE domain_claims (
    account_id text NOT NULL REFERENCES accounts (id),
    domain text NOT NULL,
    token text NOT NULL,
    -- the role a person of the domain joins with on first sign-in by SAML or OIDC; NULL:
    -- they still need an invitation
    join_role text,
    created_at timestamptz NOT NULL DEFAULT now(),
    verified_at timestamptz,
    PRIMARY KEY (account_id, domain)
);
CREATE UNIQUE INDEX domain_claims_proven ON domain_claims (domain) WHERE verified_at IS NOT NULL;
