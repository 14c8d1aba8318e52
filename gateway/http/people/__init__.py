"""What the account and admin surfaces share about people: inviting, invitation links, sign-up's
steps."""
