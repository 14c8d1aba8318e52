"""What a sign-in holds on every process: dashboard sessions and revoked user tokens."""
