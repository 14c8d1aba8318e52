"""Members: joining and leaving, who signs in, domain claims, sign-up, SCIM (scim/)."""
