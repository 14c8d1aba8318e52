"""Trust over HTTP: anomalies, people's own alerts, runway, sign-ups."""
