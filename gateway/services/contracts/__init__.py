"""Contracts' use cases: commitments, invoices and their sending, bring-your-own-key, price
books, statements.

The face below is what another capability may use; the modules are this room's own. Price
changes (proof) review a book change through it, and no module here imports proof: one
direction.
"""

from gateway.services.contracts.price_books import checked as checked_book_change
from gateway.services.contracts.price_books import install as install_book_change
from gateway.services.contracts.price_books import review as review_book_change

__all__ = ["checked_book_change", "install_book_change", "review_book_change"]
