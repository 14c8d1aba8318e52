"""Money's tables: credit grants, payments and their events, pending debits, receivables, refund
claims, receipts' numbers, end-user budgets, window usage, balances."""
