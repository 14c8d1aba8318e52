"""Holds beside a call's reservation: metered holds, money an operator takes out, reservations
Redis lost, an account's commitment."""
