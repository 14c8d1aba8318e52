"""Trust: spend anomalies, runway, sign-up's rules and trial checks, alerts and their words."""
