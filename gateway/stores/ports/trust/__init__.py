"""Trust's ports: anomalies, sign-ups."""
