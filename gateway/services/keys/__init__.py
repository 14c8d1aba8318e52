"""Keys: the one mint, issuing, rotating and revoking API keys, teams of keys, service keys, device
login."""
