"""The dashboard: pages rendered on the server for account members and operators."""
