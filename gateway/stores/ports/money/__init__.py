"""Money's ports: the settlement stream, credit grants, payments, end-user budgets and teams, money
out."""
