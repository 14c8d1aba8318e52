"""/scim/v2: an organization's directory provisions its people and groups (RFC 7644)."""
