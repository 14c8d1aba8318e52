"""Members' tables: the people of an account, domain claims, SCIM."""
