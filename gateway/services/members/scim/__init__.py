"""SCIM 2.0 provisioning (RFC 7643/7644): an organization's directory creates, changes and
deactivates its people (members) and groups (teams, and roles where the operator maps them)."""
