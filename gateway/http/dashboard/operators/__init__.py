"""The Operators pages: accounts, the console, money forms, opening accounts, price books, prices,
commitments, reconciliation, sign-ups."""
