"""Members: domains an organization proves, and SCIM's filters and patches."""
