"""Trust's tables: anomalies' sums, the alerts people set, sign-ups."""
